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
import {
  clientEnv,
  DEV_SCRAM_MECHANISM,
  prepareSecurity,
  probeSecurity,
  scramFormatArgs,
  writeClientEnv,
  type BrokerSecurity,
  type SecuritySetup,
} from './security.ts'
import { waitForCluster, type ClientSecurity } from './wait.ts'

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
  /**
   * 'sasl_ssl': the client listener (`port`) is SASL_SSL with SCRAM-SHA-512, a CA and the broker's certificate and a
   * user with a random password are made in the dir (security.ts); the handle's `security` says how to connect.
   * Single node only. Default 'plaintext'.
   */
  security?: BrokerSecurity
  /** Progress messages (e.g. "making a CA..."). */
  log?: (msg: string) => void
}

/** How to connect to a secured broker (KafkaHandle.security). */
export interface SecuredBrokerAccess {
  protocol: 'SASL_SSL'
  mechanism: typeof DEV_SCRAM_MECHANISM
  username: string
  /** The user's password (random per new broker dir); not enumerable, so printing the handle does not show it. */
  readonly password: string
  /** PEM file of the CA that signed the broker's certificate (SAN IP:127.0.0.1, DNS:localhost). */
  caFile: string
  /** File holding the password (mode 0600). */
  passwordFile: string
  /** KAFKA_* variables for a shell, the password by file. */
  envFile: string
  /** The same variables: a worker or the CLI given these connects (KAFKA_SASL_PASSWORD_FILE, not the password). */
  env: Record<string, string>
  /** The PLAINTEXT listener of inter-broker traffic, on 127.0.0.1 (not for clients). */
  internalBootstrap: string
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
  /** Set when started with `security: 'sasl_ssl'`. */
  security?: SecuredBrokerAccess
}

const DEFAULT_HEAP_MB = 512
const STOP_GRACE_MS = 30_000

interface ClusterMeta {
  clusterId: string
  nodes: number
  /** Absent: plaintext (dirs made before the secured mode existed). */
  security?: BrokerSecurity
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

/** Ports per node: client and controller listeners, and the internal one of a secured node. */
export const portsPerNode = (security: BrokerSecurity = 'plaintext') => (security === 'sasl_ssl' ? 3 : 2)

export function nodeAddresses(
  count: NodeCount,
  ports: readonly number[],
  security: BrokerSecurity = 'plaintext',
): NodeAddress[] {
  const k = portsPerNode(security)
  return Array.from({ length: count }, (_, i) => ({
    nodeId: i + 1,
    port: ports[k * i] ?? 0,
    controllerPort: ports[k * i + 1] ?? 0,
    ...(k === 3 ? { internalPort: ports[k * i + 2] ?? 0 } : {}),
  }))
}

/** Ports for `count` nodes: fixed (port, port+1, ...) when a port is given, otherwise free ones. */
export async function pickPorts(count: NodeCount, port: number | undefined, perNode = 2): Promise<number[]> {
  if (port && port > 0) return Array.from({ length: perNode * count }, (_, i) => port + i)
  return freePorts(perNode * count)
}

/** Refuses what the secured mode does not do. */
export function checkSecurity(count: NodeCount, security: BrokerSecurity): void {
  if (security !== 'plaintext' && security !== 'sasl_ssl')
    throw new Error(`devkafka: security must be plaintext or sasl_ssl, got ${String(security)}`)
  if (security === 'sasl_ssl' && count !== 1)
    throw new Error('devkafka: the secured (SASL_SSL) broker is single-node only; leave out --nodes 3')
}

/** The access a secured broker's handle or daemon state describes. */
export function securedAccess(
  bootstrap: string,
  internalBootstrap: string,
  setup: SecuritySetup,
): SecuredBrokerAccess {
  const access = {
    protocol: 'SASL_SSL' as const,
    mechanism: DEV_SCRAM_MECHANISM,
    username: setup.username,
    caFile: setup.caFile,
    passwordFile: setup.passwordFile,
    envFile: setup.envFile,
    env: clientEnv(bootstrap, setup),
    internalBootstrap,
  }
  Object.defineProperty(access, 'password', { value: setup.password, enumerable: false })
  return access as SecuredBrokerAccess
}

/** Reads or creates the cluster id of a directory; formats every node that is not formatted yet. */
export async function prepareCluster(
  jars: KafkaJars,
  dir: string,
  layouts: NodeLayout[],
  all: NodeAddress[],
  secure?: SecuritySetup,
): Promise<string> {
  const metaFile = join(dir, 'cluster.json')
  const security: BrokerSecurity = secure ? 'sasl_ssl' : 'plaintext'
  let meta: ClusterMeta | undefined
  if (existsSync(metaFile)) meta = JSON.parse(readFileSync(metaFile, 'utf8')) as ClusterMeta
  if (meta && meta.nodes !== layouts.length) {
    throw new Error(
      `devkafka: ${dir} holds a ${meta.nodes}-node cluster, not a ${layouts.length}-node one; use another --dir or delete it`,
    )
  }
  if (meta && (meta.security ?? 'plaintext') !== security) {
    // SCRAM users are created when the data is formatted: a dir keeps the mode it was made with.
    throw new Error(
      `devkafka: ${dir} holds a ${meta.security ?? 'plaintext'} broker, not a ${security} one; use another --dir ` +
        `(e.g. --dir ${security === 'sasl_ssl' ? '.kafka-secure' : '.kafka'}) or delete it`,
    )
  }
  if (!meta) {
    if (layouts.some(isFormatted))
      throw new Error(`devkafka: ${dir} has formatted data but no cluster.json; delete it`)
    meta = { clusterId: await randomClusterId(jars), nodes: layouts.length, ...(secure ? { security } : {}) }
  }
  for (const l of layouts) writeNodeConfig(l, all, secure?.tls)
  const format = secure ? scramFormatArgs(secure) : []
  const redact = secure ? [secure.password] : []
  await Promise.all(layouts.map((l) => formatNode(jars, l, meta.clusterId, format, redact)))
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
  const security = opts.security ?? 'plaintext'
  checkSecurity(count, security)
  const heapMb = opts.heapMb ?? DEFAULT_HEAP_MB
  const timeoutMs = opts.startTimeoutMs ?? (count === 1 ? 60_000 : 90_000)
  const jars = opts.jars ?? (await ensureKafkaJars())
  const ownsDir = opts.dir === undefined
  const dir = opts.dir ? resolve(opts.dir) : mkdtempSync(join(tmpdir(), 'devkafka-'))
  mkdirSync(dir, { recursive: true })

  const ports = await pickPorts(count, opts.port, portsPerNode(security))
  await assertPortsFree(ports)
  const all = nodeAddresses(count, ports, security)
  const states: NodeState[] = all.map((a) => ({ layout: nodeLayout(dir, a, count), child: undefined }))
  const secure = security === 'sasl_ssl' ? await prepareSecurity(dir, opts.log) : undefined
  const clusterId = await prepareCluster(
    jars,
    dir,
    states.map((s) => s.layout),
    all,
    secure,
  )
  const bootstrapOf = (l: NodeLayout): string => `${BIND_HOST}:${l.port}`
  const brokers = states.map((s) => bootstrapOf(s.layout))
  const client: ClientSecurity = secure ? probeSecurity(secure, secure.password) : {}
  if (secure) writeClientEnv(brokers.join(','), secure)

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
      client,
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
  const internal = states.map((s) => `${BIND_HOST}:${s.layout.internalPort ?? ''}`).join(',')
  const handle: KafkaHandle = {
    ...(secure ? { security: securedAccess(brokers.join(','), internal, secure) } : {}),
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
          client,
        })
      } catch (err) {
        await failWith(err, [s])
      }
    },
  }
  return handle
}
