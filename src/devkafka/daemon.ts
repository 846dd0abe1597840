import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import {
  checkSecurity,
  nodeAddresses,
  pickPorts,
  portsPerNode,
  prepareCluster,
  type NodeCount,
} from './cluster.ts'
import { describeLogs, nodeLayout, spawnNode, type NodeLayout } from './node.ts'
import { defaultDaemonDir } from './paths.ts'
import { assertPortsFree } from './ports.ts'
import { pidAlive, terminatePid } from './processes.ts'
import { BIND_HOST } from './properties.ts'
import { ensureKafkaJars } from './resolve.ts'
import {
  prepareSecurity,
  probeSecurity,
  writeClientEnv,
  type BrokerSecurity,
  type SecureClientFiles,
} from './security.ts'
import { describeClusterOnce, waitForCluster, type ClientSecurity, type ClusterInfo } from './wait.ts'

/**
 * "Daemon" mode for npm scripts: the broker JVMs are started detached, keep running after the CLI exits, and are
 * found again through a state file in the directory. Data is kept between restarts.
 */

export const STATE_FILE = 'devkafka.pid.json'

export interface DaemonNode {
  nodeId: number
  pid: number
  port: number
  controllerPort: number
  dir: string
  logFile: string
}

export interface DaemonState {
  version: 1
  dir: string
  clusterId: string
  brokers: string[]
  bootstrap: string
  startedAt: string
  nodes: DaemonNode[]
  /** A secured broker (SASL_SSL, SCRAM-SHA-512): where its client files are (no secret in the state file). */
  security?: { protocol: 'SASL_SSL'; internalBootstrap: string } & SecureClientFiles
}

/** How to reach the daemon's brokers: nothing for a plaintext one, TLS and SCRAM (password from its file) otherwise. */
export function daemonClient(info: Pick<DaemonState, 'security'>): ClientSecurity {
  return info.security ? probeSecurity(info.security) : {}
}

export interface DaemonOptions {
  dir?: string
  /** Broker port of node 1 (default: env KAFKA_PORT, else 9092). 0 = free ports. */
  port?: number
  nodes?: NodeCount
  heapMb?: number
  startTimeoutMs?: number
  log?: (msg: string) => void
  /** 'sasl_ssl': the secured broker (security.ts); single node. Default 'plaintext'. */
  security?: BrokerSecurity
}

export function defaultPort(): number {
  const env = process.env.KAFKA_PORT
  if (env !== undefined && env !== '') {
    const n = Number(env)
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      throw new Error(`devkafka: KAFKA_PORT=${env} is not a port number`)
    return n
  }
  return 9092
}

export function stateFilePath(dir: string): string {
  return join(dir, STATE_FILE)
}

export function readState(dir: string): DaemonState | undefined {
  const file = stateFilePath(dir)
  if (!existsSync(file)) return undefined
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DaemonState
  } catch {
    return undefined
  }
}

/** Whether `pid` is alive and (where /proc exists) really the broker JVM of `nodeDir` — guards against pid reuse. */
export function isBrokerPid(pid: number, nodeDir: string): boolean {
  if (!pidAlive(pid)) return false
  let cmdline: string
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
  } catch {
    return true // no procfs (macOS): trust the pid
  }
  return cmdline.includes('kafka.Kafka') && cmdline.includes(`-Ddevkafka.dir=${nodeDir}`)
}

export type DaemonStatus =
  | { state: 'stopped'; dir: string }
  | { state: 'running'; dir: string; info: DaemonState; cluster: ClusterInfo }
  | { state: 'unhealthy'; dir: string; info: DaemonState; alive: number[]; dead: number[]; error: string }

export async function daemonStatus(opts: { dir?: string } = {}): Promise<DaemonStatus> {
  const dir = resolve(opts.dir ?? defaultDaemonDir())
  const info = readState(dir)
  if (!info) return { state: 'stopped', dir }
  const alive = info.nodes.filter((n) => isBrokerPid(n.pid, n.dir)).map((n) => n.nodeId)
  const dead = info.nodes.filter((n) => !alive.includes(n.nodeId)).map((n) => n.nodeId)
  if (alive.length === 0) return { state: 'stopped', dir }
  try {
    const cluster = await describeClusterOnce(info.brokers, 3000, daemonClient(info))
    if (dead.length === 0) return { state: 'running', dir, info, cluster }
    return { state: 'unhealthy', dir, info, alive, dead, error: `node(s) ${dead.join(', ')} not running` }
  } catch (err) {
    return { state: 'unhealthy', dir, info, alive, dead, error: (err as Error).message }
  }
}

export interface StartDaemonResult {
  alreadyRunning: boolean
  state: DaemonState
}

/** Starts the detached broker(s) unless they already run from this dir; waits until they answer. */
export async function startDaemon(opts: DaemonOptions = {}): Promise<StartDaemonResult> {
  const dir = resolve(opts.dir ?? defaultDaemonDir())
  const count: NodeCount = opts.nodes ?? 1
  const security = opts.security ?? 'plaintext'
  checkSecurity(count, security)
  const timeoutMs = opts.startTimeoutMs ?? (count === 1 ? 60_000 : 90_000)
  mkdirSync(dir, { recursive: true })

  const previous = readState(dir)
  if (previous) {
    const alive = previous.nodes.filter((n) => isBrokerPid(n.pid, n.dir))
    const running: BrokerSecurity = previous.security ? 'sasl_ssl' : 'plaintext'
    if (alive.length > 0 && running !== security)
      throw new Error(
        `devkafka: a ${running} broker from ${dir} is running (pid ${alive.map((n) => n.pid).join(', ')}); ` +
          `stop it first (npm run kafka:stop), or use another --dir for the ${security} one`,
      )
    if (alive.length === previous.nodes.length) {
      // Running (or still starting): wait until it answers rather than start a second one.
      await waitForCluster({
        brokers: previous.brokers,
        nodeIds: previous.nodes.map((n) => n.nodeId),
        timeoutMs,
        failed: () => (previous.nodes.every((n) => pidAlive(n.pid)) ? undefined : 'a broker process exited'),
        client: daemonClient(previous),
      }).catch((err: Error) => {
        throw new Error(
          `devkafka: a broker from ${dir} is running (pid ${alive.map((n) => n.pid).join(', ')}) but does not answer: ${err.message}\n` +
            'Run `npm run kafka:stop` and start again.',
        )
      })
      return { alreadyRunning: true, state: previous }
    }
    if (alive.length > 0) {
      throw new Error(
        `devkafka: only some nodes from ${dir} are running (pid ${alive.map((n) => n.pid).join(', ')}); run \`npm run kafka:stop\` first`,
      )
    }
    rmSync(stateFilePath(dir), { force: true }) // stale: nothing runs any more
  }

  const jars = await ensureKafkaJars({ log: opts.log })
  const ports = await pickPorts(count, opts.port ?? defaultPort(), portsPerNode(security))
  await assertPortsFree(ports)
  const all = nodeAddresses(count, ports, security)
  const layouts: NodeLayout[] = all.map((a) => nodeLayout(dir, a, count))
  const secure = security === 'sasl_ssl' ? await prepareSecurity(dir, opts.log) : undefined
  const clusterId = await prepareCluster(jars, dir, layouts, all, secure)
  const brokers = layouts.map((l) => `${BIND_HOST}:${l.port}`)
  if (secure) writeClientEnv(brokers.join(','), secure)

  const children = layouts.map((l) => spawnNode(jars, l, { heapMb: opts.heapMb ?? 512, detached: true }))
  const state: DaemonState = {
    version: 1,
    dir,
    clusterId,
    brokers,
    bootstrap: brokers.join(','),
    startedAt: new Date().toISOString(),
    nodes: layouts.map((l, i) => ({
      nodeId: l.nodeId,
      pid: children[i]?.pid ?? -1,
      port: l.port,
      controllerPort: l.controllerPort,
      dir: l.dir,
      logFile: l.logFile,
    })),
    ...(secure
      ? {
          security: {
            protocol: 'SASL_SSL' as const,
            internalBootstrap: layouts.map((l) => `${BIND_HOST}:${l.internalPort ?? ''}`).join(','),
            caFile: secure.caFile,
            username: secure.username,
            passwordFile: secure.passwordFile,
            envFile: secure.envFile,
          },
        }
      : {}),
  }
  // Written before waiting, so `stop` finds the processes even if this CLI is interrupted while waiting.
  writeFileSync(stateFilePath(dir), JSON.stringify(state, null, 2) + '\n')
  try {
    await waitForCluster({
      brokers,
      nodeIds: all.map((a) => a.nodeId),
      timeoutMs,
      client: secure ? probeSecurity(secure, secure.password) : {},
      failed: () => {
        const i = children.findIndex((c) => c.exitCode !== null || c.signalCode !== null)
        if (i < 0) return undefined
        const c = children[i]
        return `Kafka node ${i + 1} (pid ${c?.pid}) exited with ${c?.exitCode !== null ? `exit code ${c?.exitCode}` : `signal ${c?.signalCode}`}`
      },
    })
  } catch (err) {
    await Promise.all(state.nodes.map((n) => terminatePid(n.pid, 5_000)))
    rmSync(stateFilePath(dir), { force: true })
    throw new Error(
      `devkafka: Kafka did not start (log: ${layouts.map((l) => l.logFile).join(', ')}): ${(err as Error).message}\n` +
        layouts.map((l) => describeLogs(l)).join('\n'),
    )
  }
  return { alreadyRunning: false, state }
}

export interface StopDaemonResult {
  wasRunning: boolean
  pids: number[]
}

/** Stops the detached broker(s) of the dir (SIGTERM, bounded wait, SIGKILL) and removes the state file. */
export async function stopDaemon(opts: { dir?: string; graceMs?: number } = {}): Promise<StopDaemonResult> {
  const dir = resolve(opts.dir ?? defaultDaemonDir())
  const info = readState(dir)
  if (!info) return { wasRunning: false, pids: [] }
  const alive = info.nodes.filter((n) => isBrokerPid(n.pid, n.dir))
  await Promise.all(alive.map((n) => terminatePid(n.pid, opts.graceMs ?? 30_000)))
  const survivors = alive.filter((n) => pidAlive(n.pid))
  if (survivors.length > 0) {
    throw new Error(`devkafka: broker process(es) ${survivors.map((n) => n.pid).join(', ')} did not exit`)
  }
  rmSync(stateFilePath(dir), { force: true })
  return { wasRunning: alive.length > 0, pids: alive.map((n) => n.pid) }
}
