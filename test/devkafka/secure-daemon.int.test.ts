/**
 * `decider kafka start --secure` (here through src/devkafka/cli.ts, as `npm run kafka:start -- --secure`): the detached
 * broker with a SASL_SSL + SCRAM-SHA-512 client listener; it prints where the CA PEM and the credentials are (never the
 * password), its client.env connects the CLI as it is, a restart keeps the CA and the user, and a dir keeps the mode
 * it was made with. Free ports and a temp dir, never 9092 / .kafka.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { readState, stopDaemon } from '../../src/devkafka/index.ts'
import { runCli as runDecider } from '../cli/run-cli.ts'
import { uniqueName } from '../support/kafka.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const cli = join(root, 'src', 'devkafka', 'cli.ts')

function devkafka(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', cli, ...args],
      { cwd: root, timeout: 180_000, env: { ...process.env, KAFKA_PORT: '' } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
        resolvePromise({ code, stdout, stderr })
      },
    )
  })
}

/** The KAFKA_* lines of client.env (values unquoted: the temp paths need no quoting). */
function envFile(file: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(KAFKA_\w+)=(.*)$/.exec(line)
    if (m) env[m[1]!] = m[2]!
  }
  return env
}

describe('devkafka CLI: start --secure', () => {
  const dir = mkdtempSync(join(tmpdir(), 'devkafka-secure-'))
  const name = uniqueName('secure-daemon')
  const topology = join(dir, `${name}.yaml`)
  writeFileSync(
    topology,
    `name: ${name}\ndecider: ${join(root, 'topologies/bank-account.ts')}\npartitions: 1\n`,
  )

  afterAll(async () => {
    await stopDaemon({ dir, graceMs: 10_000 }).catch(() => undefined) // only matters if a test failed midway
    rmSync(dir, { recursive: true, force: true })
  }, 60_000)

  it('prints the CA and credentials files; client.env connects the CLI; a restart keeps CA and user', async () => {
    const first = await devkafka(['start', '--secure', '--port', '0', '--dir', dir])
    expect(first.code, first.stderr).toBe(0)
    const state = readState(dir)!
    expect(state.security).toMatchObject({ protocol: 'SASL_SSL', username: 'decider' })
    const password = readFileSync(join(dir, 'client', 'password'), 'utf8').trim()
    expect(first.stdout).toContain(`Kafka started at ${state.bootstrap} (SASL_SSL, SCRAM-SHA-512)`)
    expect(first.stdout).toContain(`CA certificate (PEM): ${join(dir, 'tls', 'ca.pem')}`)
    expect(first.stdout).toContain(
      `Credentials: user decider, password in ${join(dir, 'client', 'password')}`,
    )
    expect(first.stdout).toContain(`KAFKA_BROKERS=${state.bootstrap}`)
    expect(first.stdout).toContain(`KAFKA_SASL_PASSWORD_FILE=${join(dir, 'client', 'password')}`)
    expect(first.stdout + first.stderr).not.toContain(password)
    expect(JSON.stringify(state)).not.toContain(password)

    const env = envFile(join(dir, 'client.env'))
    const created = await runDecider(['topics', 'create', topology], env, 60_000)
    expect(created.code, created.stderr).toBe(0)

    const status = await devkafka(['status', '--dir', dir])
    expect(status.code, status.stderr).toBe(0)
    expect(status.stdout).toContain(`Kafka running at ${state.bootstrap} (SASL_SSL, SCRAM-SHA-512`)

    const plain = await devkafka(['start', '--port', '0', '--dir', dir])
    expect(plain.code).toBe(1)
    expect(plain.stderr).toContain(`a sasl_ssl broker from ${dir} is running`)

    expect((await devkafka(['stop', '--dir', dir])).code).toBe(0)
    const ca = readFileSync(join(dir, 'tls', 'ca.pem'), 'utf8')

    // The same dir again: same CA, same user and password (in the formatted metadata), the topics still there.
    const again = await devkafka(['start', '--secure', '--port', '0', '--dir', dir])
    expect(again.code, again.stderr).toBe(0)
    expect(readFileSync(join(dir, 'tls', 'ca.pem'), 'utf8')).toBe(ca)
    expect(readFileSync(join(dir, 'client', 'password'), 'utf8').trim()).toBe(password)
    const check = await runDecider(['topics', 'check', topology], envFile(join(dir, 'client.env')), 60_000)
    expect(check.code, check.stderr).toBe(0)
    expect((await devkafka(['stop', '--dir', dir])).code).toBe(0)

    // A secured dir stays secured.
    const mismatch = await devkafka(['start', '--port', '0', '--dir', dir])
    expect(mismatch.code).toBe(1)
    expect(mismatch.stderr).toContain(`${dir} holds a sasl_ssl broker, not a plaintext one`)
  }, 400_000)
})
