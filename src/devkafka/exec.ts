import { spawn } from 'node:child_process'

export interface ExecResult {
  code: number | null
  signal: NodeJS.Signals | null
  /** stdout and stderr interleaved, as the process wrote them. */
  output: string
  /** Set when the executable could not be started at all (e.g. ENOENT). */
  spawnError?: NodeJS.ErrnoException
}

/** Runs a command to completion (bounded by timeoutMs), capturing its combined output. Never throws. */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ExecResult> {
  return new Promise((resolvePromise) => {
    let output = ''
    let settled = false
    const finish = (r: ExecResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolvePromise(r)
    }
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.env ? { env: opts.env } : {}),
    })
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      output += `\n[devkafka] ${cmd} timed out after ${opts.timeoutMs} ms and was killed\n`
    }, opts.timeoutMs ?? 120_000)
    child.on('error', (err: NodeJS.ErrnoException) =>
      finish({ code: null, signal: null, output, spawnError: err }),
    )
    child.on('close', (code, signal) => finish({ code, signal, output }))
  })
}

/** Last `n` lines of a text. */
export function tailLines(text: string, n: number): string {
  const lines = text.split('\n')
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
  return lines.slice(-n).join('\n')
}
