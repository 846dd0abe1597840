import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import {
  describeLogs,
  formatNode,
  isFormatted,
  nodeLayout,
  randomClusterId,
  spawnNode,
  writeNodeConfig,
  type NodeLayout,
} from './node.ts'
import { assertPortsFree, freePorts } from './ports.ts'
import { untrack } from './processes.ts'
import { BIND_HOST, type NodeAddress } from './properties.ts'
import { ensureKafkaJars, type KafkaJars } from './resolve.ts'
import { waitForCluster } from './wait.ts'

export type NodeCount = 1 | 3

export interface StartKafkaOptions {
  /** Broker port of the first node; node i uses port+2i (broker) and port+2i+1 (controller). 0/undefined: free ports. */
  port?: number
  /** Directory for configs, data and logs. Default: a fresh temp dir, removed by stop(). An existing formatted dir is reused. */
  dir?: string
  /** 1 (default) or 3 combined broker+controller nodes. */
  nodes?: NodeCount
  /** JVM heap per node in MB (default 512). */
  heapMb?: number
  /** How long to wait for the cluster to answer (default 60 s; 3 nodes: 90 s). */
  startTimeoutMs?: number
  /** Already resolved jars (default: ensureKafkaJars()). */
  jars?: KafkaJars
  /** Keep the temp dir on stop() (only matters when `dir` was not given). */
  keepDir?: boolean
}

export interface KafkaNodeInfo {
  /** Kafka node.id (1-based). */
  readonly nodeId: number
  readonly port: number
  readonly controllerPort: number
  readonly bootstrap: string
  readonly dir: string
  readonly logFile: string
  /** pid of the running JVM, undefined when the node is not running. */
  readonly pid: number | undefined
  readonly running: boolean
}

export interface KafkaHandle {
  /** host:port of every node's broker listener. */
  brokers: string[]
  /** The same, comma-separated. */
  bootstrap: string
  dir: string
  /** The broker log of the first node. */
  logFile: string
  logFiles: string[]
  clusterId: string
  nodes: KafkaNodeInfo[]
  /** Stops every node: SIGTERM, wait (bounded), then SIGKILL. Removes the dir if it was a temp dir we created. */
  stop(): Promise<void>
  /** SIGKILLs the JVM of node `index` (0-based index into `nodes`) and waits until it is gone. */
  killNode(index: number): Promise<void>
  /** Starts node `index` again (same dir and ports) and waits until it is back in the cluster metadata. */
  restartNode(index: number): Promise<void>
}

const DEFAULT_HEAP_MB = 512
const STOP_GRACE_MS = 30_000

interface ClusterMeta {
  clusterId: string
  nodes: number
}

interface NodeState {
  layout: NodeLayout
  child: ChildProcess | undefined
}

function exitOf(child: ChildProcess): string | undefined {
  if (child.exitCode !== null) return `exit code ${child.exitCode}`
  if (child.signalCode !== null) return `signal ${child.signalCode}`
  return undefined
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (exitOf(child)) return Promise.resolve(true)
  return new Promise((r) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit)
      r(false)
    }, timeoutMs)
    const onExit = (): void => {
      clearTimeout(timer)
      r(true)
    }
    child.once('exit', onExit)
  })
}

/** SIGTERM, bounded wait, SIGKILL. */
async function stopChild(child: ChildProcess, graceMs = STOP_GRACE_MS): Promise<void> {
  if (exitOf(child)) return
  child.kill('SIGTERM')
  if (await waitExit(child, graceMs)) return
  child.kill('SIGKILL')
  await waitExit(child, 10_000)
}

export function nodeAddresses(count: NodeCount, ports: readonly number[]): NodeAddress[] {
  return Array.from({ length: count }, (_, i) => ({
    nodeId: i + 1,
    port: ports[2 * i] ?? 0,
    controllerPort: ports[2 * i + 1] ?? 0,
  }))
}

/** Ports for `count` nodes: fixed (port, port+1, ...) when a port is given, otherwise free ones. */
export async function pickPorts(count: NodeCount, port: number | undefined): Promise<number[]> {
  if (port && port > 0) return Array.from({ length: 2 * count }, (_, i) => port + i)
  return freePorts(2 * count)
}

/** Reads or creates the cluster id of a directory; formats every node that is not formatted yet. */
export async function prepareCluster(
  jars: KafkaJars,
  dir: string,
  layouts: NodeLayout[],
  all: NodeAddress[],
): Promise<string> {
  const metaFile = join(dir, 'cluster.json')
  let meta: ClusterMeta | undefined
  if (existsSync(metaFile)) meta = JSON.parse(readFileSync(metaFile, 'utf8')) as ClusterMeta
  if (meta && meta.nodes !== layouts.length) {
    throw new Error(
      `devkafka: ${dir} holds a ${meta.nodes}-node cluster, not a ${layouts.length}-node one; use another --dir or delete it`,
    )
  }
  if (!meta) {
    if (layouts.some(isFormatted))
      throw new Error(`devkafka: ${dir} has formatted data but no cluster.json; delete it`)
    meta = { clusterId: await randomClusterId(jars), nodes: layouts.length }
  }
  for (const l of layouts) writeNodeConfig(l, all)
  await Promise.all(layouts.map((l) => formatNode(jars, l, meta.clusterId)))
  writeFileSync(metaFile, JSON.stringify(meta, null, 2) + '\n')
  return meta.clusterId
}

/**
 * Starts a local Apache Kafka cluster (KRaft, combined broker+controller nodes) from the Maven-resolved jars
 * and waits until every node is in the cluster metadata.
 */
export async function startKafka(opts: StartKafkaOptions = {}): Promise<KafkaHandle> {
  const count: NodeCount = opts.nodes ?? 1
  if (count !== 1 && count !== 3) throw new Error(`devkafka: nodes must be 1 or 3, got ${String(count)}`)
  const heapMb = opts.heapMb ?? DEFAULT_HEAP_MB
  const timeoutMs = opts.startTimeoutMs ?? (count === 1 ? 60_000 : 90_000)
  const jars = opts.jars ?? (await ensureKafkaJars())
  const ownsDir = opts.dir === undefined
  const dir = opts.dir ? resolve(opts.dir) : mkdtempSync(join(tmpdir(), 'devkafka-'))
  mkdirSync(dir, { recursive: true })

  const ports = await pickPorts(count, opts.port)
  await assertPortsFree(ports)
  const all = nodeAddresses(count, ports)
  const states: NodeState[] = all.map((a) => ({ layout: nodeLayout(dir, a, count), child: undefined }))
  const clusterId = await prepareCluster(
    jars,
    dir,
    states.map((s) => s.layout),
    all,
  )
  const bootstrapOf = (l: NodeLayout): string => `${BIND_HOST}:${l.port}`
  const brokers = states.map((s) => bootstrapOf(s.layout))

  const startFailure = (which: NodeState[]): (() => string | undefined) => {
    return () => {
      for (const s of which) {
        const how = s.child ? exitOf(s.child) : undefined
        if (how)
          return `Kafka node ${s.layout.nodeId} (pid ${s.child?.pid}) exited with ${how} before it answered`
      }
      return undefined
    }
  }
  const failWith = async (err: unknown, which: NodeState[]): Promise<never> => {
    const logs = which.map((s) => describeLogs(s.layout)).join('\n')
    const logPaths = which.map((s) => s.layout.logFile).join(', ')
    throw new Error(`devkafka: Kafka did not start (log: ${logPaths}): ${(err as Error).message}\n${logs}`)
  }

  for (const s of states) s.child = spawnNode(jars, s.layout, { heapMb, detached: false })
  try {
    await waitForCluster({
      brokers,
      nodeIds: all.map((a) => a.nodeId),
      timeoutMs,
      failed: startFailure(states),
    })
  } catch (err) {
    await Promise.all(states.map((s) => (s.child ? stopChild(s.child, 5_000) : undefined)))
    await failWith(err, states)
  }

  let stopped = false
  const nodeAt = (index: number): NodeState => {
    const s = states[index]
    if (!s) throw new Error(`devkafka: no node at index ${index} (cluster has ${states.length})`)
    return s
  }
  const handle: KafkaHandle = {
    brokers,
    bootstrap: brokers.join(','),
    dir,
    logFile: states[0]?.layout.logFile ?? '',
    logFiles: states.map((s) => s.layout.logFile),
    clusterId,
    nodes: states.map((s) => ({
      nodeId: s.layout.nodeId,
      port: s.layout.port,
      controllerPort: s.layout.controllerPort,
      bootstrap: bootstrapOf(s.layout),
      dir: s.layout.dir,
      logFile: s.layout.logFile,
      get pid() {
        return s.child && !exitOf(s.child) ? s.child.pid : undefined
      },
      get running() {
        return !!s.child && !exitOf(s.child)
      },
    })),
    async stop() {
      if (stopped) return
      stopped = true
      await Promise.all(
        states.map(async (s) => {
          if (!s.child) return
          await stopChild(s.child)
          untrack(s.child)
        }),
      )
      if (ownsDir && !opts.keepDir) rmSync(dir, { recursive: true, force: true })
    },
    async killNode(index) {
      const s = nodeAt(index)
      if (!s.child || exitOf(s.child)) return
      s.child.kill('SIGKILL')
      if (!(await waitExit(s.child, 10_000)))
        throw new Error(`devkafka: node ${s.layout.nodeId} did not die after SIGKILL`)
    },
    async restartNode(index) {
      if (stopped) throw new Error('devkafka: cluster already stopped')
      const s = nodeAt(index)
      if (s.child && !exitOf(s.child)) await stopChild(s.child)
      await assertPortsFree([s.layout.port, s.layout.controllerPort])
      s.child = spawnNode(jars, s.layout, { heapMb, detached: false })
      try {
        // Ask the restarted node itself: it answers only once it is up, and lists only unfenced brokers.
        await waitForCluster({
          brokers: [bootstrapOf(s.layout)],
          nodeIds: all.map((a) => a.nodeId),
          timeoutMs,
          failed: startFailure([s]),
        })
      } catch (err) {
        await failWith(err, [s])
      }
    },
  }
  return handle
}
