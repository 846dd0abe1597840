/** Worker processes: `decider run <topology>` as a child process, and a bounded wait on its log. */
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'

const ROOT = path.resolve(import.meta.dirname, '../..')

export interface WorkerProcess {
  proc: ChildProcess
  output: () => string
  exited: Promise<number | null>
  kill(signal?: NodeJS.Signals): void
}

// Worker processes die with the process that started them, even when it ends on an error.
const children = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL')
})

/** Starts `decider run <topology>` as a child process. */
export function spawnWorker(
  topologyFile: string | string[],
  stateDir: string,
  brokers: string[],
  env: Record<string, string> = {},
): WorkerProcess {
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin/decider.js'), 'run', ...[topologyFile].flat()], {
    cwd: ROOT,
    env: {
      ...process.env,
      KAFKA_BROKERS: brokers.join(','),
      DECIDER_STATE_DIR: stateDir,
      DECIDER_HTTP_PORT: '0',
      DECIDER_LOG_LEVEL: 'info',
      DECIDER_SESSION_TIMEOUT_MS: '6000',
      DECIDER_SHUTDOWN_TIMEOUT_MS: '15000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(proc)
  proc.once('exit', () => children.delete(proc))
  let out = ''
  const keep = (d: Buffer) => {
    out += d.toString()
    if (out.length > 2_000_000) out = out.slice(-1_000_000)
  }
  proc.stdout!.on('data', keep)
  proc.stderr!.on('data', keep)
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
  return { proc, output: () => out, exited, kill: (signal = 'SIGTERM') => void proc.kill(signal) }
}

/** Waits (bounded) until a worker's log says all its tasks run, i.e. `n` "task running" lines since `from`. */
export async function waitForLog(
  w: WorkerProcess,
  pattern: RegExp,
  count: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if ((w.output().match(new RegExp(pattern, 'g')) ?? []).length >= count) return
    if (w.proc.exitCode !== null)
      throw new Error(`worker exited (${w.proc.exitCode}):\n${w.output().slice(-3000)}`)
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`timeout waiting for ${pattern} x${count}:\n${w.output().slice(-3000)}`)
}
