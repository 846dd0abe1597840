/** Worker processes of the bench: start (optionally profiled), ready, stop, and their Prometheus metrics. */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { Kafka } from 'kafkajs'
import { freePort } from '../src/devkafka/index.ts'
import { spawnWorker, type WorkerProcess } from '../scripts/eos/bank.ts'
import { now, sleep } from './util.ts'

const ROOT = path.resolve(import.meta.dirname, '..')

export async function httpGet(
  port: number,
  p: string,
): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${p}`, { signal: AbortSignal.timeout(2000) })
    return { status: res.status, body: await res.text() }
  } catch {
    return undefined
  }
}

export interface RunningWorker {
  w: WorkerProcess
  port: number
}

export async function startWorker(
  topologyFile: string,
  stateDir: string,
  brokers: string[],
  all: WorkerProcess[],
  profileDir?: string,
  extraEnv: Record<string, string> = {},
): Promise<RunningWorker> {
  const port = await freePort()
  const env = { DECIDER_HTTP_PORT: String(port), DECIDER_LOG_LEVEL: 'warn', ...extraEnv }
  const w = profileDir
    ? spawnProfiledWorker(topologyFile, stateDir, brokers, env, profileDir)
    : spawnWorker(topologyFile, stateDir, brokers, env)
  all.push(w)
  return { w, port }
}

/** Like spawnWorker, with `node --cpu-prof` (not allowed in NODE_OPTIONS); the profile is written when it exits. */
function spawnProfiledWorker(
  topologyFile: string,
  stateDir: string,
  brokers: string[],
  env: Record<string, string>,
  profileDir: string,
): WorkerProcess {
  const proc = spawn(
    process.execPath,
    ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, path.join(ROOT, 'bin/decider.js'), 'run', topologyFile],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        KAFKA_BROKERS: brokers.join(','),
        DECIDER_STATE_DIR: stateDir,
        DECIDER_SESSION_TIMEOUT_MS: '6000',
        DECIDER_SHUTDOWN_TIMEOUT_MS: '15000',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let out = ''
  const keep = (d: Buffer) => {
    out += d.toString()
    if (out.length > 2_000_000) out = out.slice(-1_000_000)
  }
  proc.stdout.on('data', keep)
  proc.stderr.on('data', keep)
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
  return { proc, output: () => out, exited, kill: (signal = 'SIGTERM') => void proc.kill(signal) }
}

/** Polls until every worker's /readyz answers 200 at the same time (bounded); returns performance.now() then. */
export async function waitReady(
  ws: RunningWorker[],
  timeoutMs: number,
  onHttp?: () => void,
): Promise<number> {
  const deadline = now() + timeoutMs
  let httpSeen = false
  while (now() < deadline) {
    for (const { w } of ws)
      if (w.proc.exitCode !== null)
        throw new Error(`worker exited (${w.proc.exitCode}):\n${w.output().slice(-3000)}`)
    const rs = await Promise.all(ws.map((w) => httpGet(w.port, '/readyz')))
    if (!httpSeen && rs.every((r) => r !== undefined)) {
      httpSeen = true
      onHttp?.()
    }
    if (rs.every((r) => r?.status === 200)) return now()
    await sleep(50)
  }
  throw new Error(
    `workers not ready after ${timeoutMs} ms:\n${ws.map((w) => w.w.output().slice(-2000)).join('\n---\n')}`,
  )
}

export async function stopWorkers(ws: WorkerProcess[]): Promise<void> {
  await Promise.all(
    ws.map(async (w) => {
      if (w.proc.exitCode !== null || w.proc.signalCode !== null) return
      w.kill('SIGTERM')
      const ok = await Promise.race([w.exited.then(() => true), sleep(30_000).then(() => false)])
      if (!ok) {
        w.kill('SIGKILL')
        await Promise.race([w.exited, sleep(10_000)])
      }
    }),
  )
}

/** Sum of a Prometheus metric's samples (optionally only lines containing `filter`). */
export function metricSum(text: string, name: string, filter = ''): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const rest = line.slice(name.length)
    if (rest[0] !== '{' && rest[0] !== ' ') continue
    if (filter && !line.includes(filter)) continue
    const v = Number(line.slice(line.lastIndexOf(' ') + 1))
    if (Number.isFinite(v)) sum += v
  }
  return sum
}

/** The steps of decider_batch_step_seconds (src/metrics/metrics.ts). */
export const BATCH_STEPS = [
  'wait',
  'load',
  'decide',
  'offsets',
  'produce',
  'commit',
  'other',
  'store',
] as const

export interface Scrape {
  txns: number
  batchSum: number
  batchCount: number
  gcMinor: number
  gcMajor: number
  /** Seconds summed per batch step. */
  steps: Partial<Record<(typeof BATCH_STEPS)[number], number>>
}

export async function scrape(ws: RunningWorker[]): Promise<Scrape> {
  const texts = await Promise.all(ws.map(async (w) => (await httpGet(w.port, '/metrics'))?.body ?? ''))
  const r: Scrape = { txns: 0, batchSum: 0, batchCount: 0, gcMinor: 0, gcMajor: 0, steps: {} }
  for (const t of texts) {
    for (const step of BATCH_STEPS)
      r.steps[step] = (r.steps[step] ?? 0) + metricSum(t, 'decider_batch_step_seconds_sum', `step="${step}"`)
    r.txns += metricSum(t, 'decider_transactions_total', 'result="committed"')
    r.batchSum += metricSum(t, 'decider_batch_commands_sum')
    r.batchCount += metricSum(t, 'decider_batch_commands_count')
    // prom-client's default metrics: V8's pauses, young generation (minor) and old generation (major, incremental).
    r.gcMinor += metricSum(t, 'nodejs_gc_duration_seconds_sum', 'kind="minor"')
    r.gcMajor +=
      metricSum(t, 'nodejs_gc_duration_seconds_sum', 'kind="major"') +
      metricSum(t, 'nodejs_gc_duration_seconds_sum', 'kind="incremental"')
  }
  return r
}

// kafkajs does not expose its broker list; the bench keeps it here for the workers it spawns.
export const brokersOf = new WeakMap<Kafka, string[]>()
export function kafka_brokers(kafka: Kafka): string[] {
  const b = brokersOf.get(kafka)
  if (!b) throw new Error('bench: unknown client')
  return b
}

/** VmRSS (now) or VmHWM (peak) of a process, in MB, from /proc/<pid>/status (NaN when unknown). */
export function vmRssMb(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number {
  if (pid === undefined) return NaN
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : NaN
  } catch {
    return NaN
  }
}
