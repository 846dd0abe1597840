import { setTimeout as sleep } from 'node:timers/promises'
import { spawn, type ChildProcess } from 'node:child_process'

/**
 * Broker processes started attached to this Node process. If this process exits without stopping them (a crashed
 * test run, an uncaught exception, process.exit), the 'exit' handler SIGKILLs them so no java process is left behind.
 * SIGINT/SIGTERM/SIGHUP are handled too: the brokers are killed and, unless someone else handles the signal, the
 * process exits as it would have by default.
 */
const live = new Set<ChildProcess>()
let installed = false

function killAll(): void {
  for (const child of live) {
    try {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
  live.clear()
}

function install(): void {
  if (installed) return
  installed = true
  process.on('exit', killAll)
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.on(sig, () => {
      killAll()
      if (process.listenerCount(sig) <= 1) process.exit(code)
    })
  }
}

export function track(child: ChildProcess): void {
  install()
  live.add(child)
  child.once('exit', () => live.delete(child))
  watchdog(child)
}

/**
 * The 'exit' handler cannot run when this process is SIGKILLed (or crashes hard), so a tiny detached shell watches
 * both pids and SIGKILLs the broker once this process is gone. It ends by itself when the broker exits (polls 1/s).
 */
function watchdog(child: ChildProcess): void {
  if (process.platform === 'win32' || child.pid === undefined) return
  const script = `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${child.pid} 2>/dev/null; do sleep 1; done; kill -9 ${child.pid} 2>/dev/null; exit 0`
  try {
    const w = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' })
    w.on('error', () => undefined)
    w.unref()
  } catch {
    // best effort: the 'exit' handler still covers normal exits
  }
}

export function untrack(child: ChildProcess): void {
  live.delete(child)
}

/** Whether a process with this pid exists (signal 0 probe). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Waits (bounded) until the pid is gone. Returns whether it is gone. */
export async function waitPidGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!pidAlive(pid)) return true
    await sleep(100)
  }
  return !pidAlive(pid)
}

/** SIGTERM, wait up to graceMs, then SIGKILL (and wait briefly again). For processes we are not the parent of. */
export async function terminatePid(pid: number, graceMs = 30_000): Promise<void> {
  if (!pidAlive(pid)) return
  try {
    process.kill(pid, 'SIGTERM')
  } catch {
    return
  }
  if (await waitPidGone(pid, graceMs)) return
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    return
  }
  await waitPidGone(pid, 10_000)
}
