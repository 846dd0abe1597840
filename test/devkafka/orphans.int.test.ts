import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

// Proves attached brokers (startKafka) never outlive the Node process that started them when it dies without
// calling stop(): via process.exit (the 'exit' handler) and via SIGKILL (the watchdog; no handler can run then).

const index = fileURLToPath(new URL('../../src/devkafka/index.ts', import.meta.url))

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!pidAlive(pid)) return true
    await new Promise((r) => setTimeout(r, 200))
  }
  return !pidAlive(pid)
}

/** Starts a broker in a child Node process, which then dies the given way; resolves with the broker's pid. */
function startBrokerThenDie(dir: string, death: 'exit' | 'sigkill'): Promise<number> {
  const die = death === 'exit' ? 'process.exit(3)' : "process.kill(process.pid, 'SIGKILL')"
  const code = `
    import { startKafka } from ${JSON.stringify(index)}
    const k = await startKafka({ dir: ${JSON.stringify(dir)}, heapMb: 256 })
    console.log('BROKER_PID=' + k.nodes[0].pid)
    ${die}
  `
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
    child.on('exit', () => {
      clearTimeout(timer)
      const m = /BROKER_PID=(\d+)/.exec(out)
      if (m?.[1]) resolvePromise(Number(m[1]))
      else reject(new Error(`child did not start a broker:\n${out}`))
    })
  })
}

describe('attached brokers die with their parent', () => {
  const dirs: string[] = []
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  for (const death of ['exit', 'sigkill'] as const) {
    it(`parent ends via ${death === 'exit' ? 'process.exit()' : 'SIGKILL'} -> the java process is gone`, async () => {
      const dir = mkdtempSync(join(tmpdir(), `devkafka-orphan-${death}-`))
      dirs.push(dir)
      const pid = await startBrokerThenDie(dir, death)
      expect(pid).toBeGreaterThan(0)
      const gone = await waitGone(pid, 15_000)
      if (!gone) process.kill(pid, 'SIGKILL') // do not leak it even when the assertion fails
      expect(gone).toBe(true)
    })
  }
})
