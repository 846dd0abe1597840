import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import {
  freePort,
  isPortFree,
  isPortOpen,
  STATE_FILE,
  stopDaemon,
  type DaemonState,
} from '../../src/devkafka/index.ts'

// Proves the detached "daemon" mode behind `npm run kafka:start|stop|status`: the broker outlives the CLI, a second
// `start` finds it (pid file + answering broker) instead of starting another, and `stop` really stops it.
// Runs on a free port and a temp dir — never the default 9092 / .kafka of a developer's own broker.

const root = fileURLToPath(new URL('../..', import.meta.url))
const cli = join(root, 'src', 'devkafka', 'cli.ts')

interface CliResult {
  code: number
  stdout: string
  stderr: string
}

function runCli(args: string[]): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', cli, ...args],
      { cwd: root, timeout: 120_000, env: { ...process.env, KAFKA_PORT: '' } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
        resolvePromise({ code, stdout, stderr })
      },
    )
  })
}

/** A port p with p+1 (the controller port) free as well. */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await freePort()
    if (p < 65535 && (await isPortFree(p + 1))) return p
  }
  throw new Error('no two consecutive free ports found')
}

/** pids of kafka.Kafka JVMs whose command line mentions `dir` (from /proc; Linux). */
function brokerPidsIn(dir: string): number[] {
  if (!existsSync('/proc')) return []
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let cmd = ''
    try {
      cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
    } catch {
      continue
    }
    if (cmd.includes('kafka.Kafka') && cmd.includes(dir)) pids.push(Number(entry))
  }
  return pids
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('devkafka CLI (detached broker)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'devkafka-cli-'))
  afterAll(async () => {
    await stopDaemon({ dir, graceMs: 10_000 }).catch(() => undefined) // only matters if a test failed midway
    rmSync(dir, { recursive: true, force: true })
  })

  it('start twice runs one broker; status reports it; stop stops it and closes the port', async () => {
    const port = await freePortPair()
    const bootstrap = `127.0.0.1:${port}`

    const first = await runCli(['start', '--port', String(port), '--dir', dir])
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout).toContain(`Kafka started at ${bootstrap}`)
    expect(first.stdout).toContain(join(dir, 'server.log'))
    const state = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as DaemonState
    const pid = state.nodes[0]?.pid ?? -1
    expect(pid).toBeGreaterThan(0)
    // The CLI has exited; the detached broker lives on and answers.
    expect(pidAlive(pid)).toBe(true)
    expect(await isPortOpen(port)).toBe(true)

    const second = await runCli(['start', '--port', String(port), '--dir', dir])
    expect(second.code, second.stderr).toBe(0)
    expect(second.stdout).toContain(`Kafka already running at ${bootstrap} (pid ${pid})`)
    expect(brokerPidsIn(dir)).toEqual([pid])

    const status = await runCli(['status', '--dir', dir])
    expect(status.code).toBe(0)
    expect(status.stdout).toContain(`Kafka running at ${bootstrap} (pid ${pid})`)

    const stop = await runCli(['stop', '--dir', dir])
    expect(stop.code, stop.stderr).toBe(0)
    expect(stop.stdout).toContain(`Kafka stopped (pid ${pid})`)
    expect(pidAlive(pid)).toBe(false)
    expect(brokerPidsIn(dir)).toEqual([])
    expect(await isPortOpen(port)).toBe(false)
    expect(existsSync(join(dir, STATE_FILE))).toBe(false)

    const after = await runCli(['status', '--dir', dir])
    expect(after.code).toBe(1)
    expect(after.stdout).toContain('Kafka not running')

    // Data is kept: the next start reuses the formatted dir (same cluster id) instead of formatting again.
    const clusterId = state.clusterId
    const again = await runCli(['start', '--port', String(port), '--dir', dir])
    expect(again.code, again.stderr).toBe(0)
    expect((JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as DaemonState).clusterId).toBe(clusterId)
    expect((await runCli(['stop', '--dir', dir])).code).toBe(0)
    expect(brokerPidsIn(dir)).toEqual([])
  })

  it('refuses to start on a port that is taken, with a clear message', async () => {
    const { createServer } = await import('node:net')
    const port = await freePortPair()
    const blocker = createServer()
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()))
    try {
      const other = mkdtempSync(join(tmpdir(), 'devkafka-cli-busy-'))
      const r = await runCli(['start', '--port', String(port), '--dir', other])
      rmSync(other, { recursive: true, force: true })
      expect(r.code).toBe(1)
      expect(r.stderr).toContain(`port ${port} on 127.0.0.1 already in use`)
      expect(brokerPidsIn(other)).toEqual([])
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()))
    }
  })
})
