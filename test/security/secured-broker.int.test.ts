/**
 * Against a real secured broker (its own, started here: SASL_SSL + SCRAM-SHA-512, a CA and certificates made with
 * keytool, a user with a random password; src/devkafka/security.ts): a worker in process, the CLI and the
 * CommandClient work over TLS + SCRAM; a wrong password and an untrusted certificate fail each of them in under 10 s
 * with a clear error (the CLI with exit code 2), not a retry loop; the worker's log of a start with credentials holds
 * neither the password nor key material, and `decider describe` masks the password. The broker asks for a client
 * certificate (ssl.client.auth=requested): one signed by its CA connects, one signed by another CA fails fast (these
 * cases need openssl for the client's key and signing request, and are skipped without it).
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { Writable } from 'node:stream'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CommandClient } from '../../src/client/command-client.ts'
import { resolveWorkerConfig, type WorkerConfig } from '../../src/config/worker-config.ts'
import { keytoolCommand, startKafka, type KafkaHandle } from '../../src/devkafka/index.ts'
import { signClientCertificate } from '../../src/devkafka/security.ts'
import { KafkaAuthenticationError, KafkaTlsError } from '../../src/errors.ts'
import { loadTopology, type Topology } from '../../src/topology/loader.ts'
import { Worker } from '../../src/worker/worker.ts'
import { tempDir } from '../support/eos.ts'
import { uniqueName } from '../support/kafka.ts'
import { ROOT, runCli } from '../cli/run-cli.ts'

/** The bound the issue sets on a definitive failure (wrong credentials, untrusted certificate). */
const FAIL_FAST_MS = 10_000

const dir = tempDir('secured')
const name = uniqueName('secured')
const topologyFile = path.join(dir, `${name}.yaml`)
writeFileSync(
  topologyFile,
  `name: ${name}\ndecider: ${path.join(ROOT, 'topologies/bank-account.ts')}\npartitions: 2\n`,
)

/** Measured fail-fast times, printed at the end (and asserted one by one). */
const timings: string[] = []

async function timed<T>(label: string, fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now()
  const value = await fn()
  const ms = Math.round(performance.now() - t0)
  timings.push(`${label}: ${ms} ms`)
  return { value, ms }
}

/** Rejection of a promise (fails the test when it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p
  } catch (e) {
    return e as Error
  }
  throw new Error('expected a rejection')
}

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** A pino logger writing JSON lines into a buffer. */
function capturedLogger(level = 'debug') {
  const chunks: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString())
      done()
    },
  })
  return { logger: pino({ level }, stream), text: () => chunks.join('') }
}

let kafka: KafkaHandle
/** KAFKA_* of the secured broker: brokers, CA file, mechanism, user, password file. */
let secureEnv: Record<string, string>
let password: string
let otherCaFile: string
/** Signs a certificate signing request with the other CA. */
let signWithOtherCa: (csr: string, cert: string) => void

function workerConfig(env: Record<string, string>, stateDir = path.join(dir, 'state')): WorkerConfig {
  return resolveWorkerConfig(
    { stateDir, http: { enabled: false }, log: { level: 'silent' }, kafka: { connectionTimeoutMs: 5000 } },
    env,
  )
}

async function waitReady(w: Worker, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!w.isReady()) {
    if (Date.now() > deadline) throw new Error(`worker not ready within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

beforeAll(async () => {
  kafka = await startKafka({ security: 'sasl_ssl', startTimeoutMs: 120_000 })
  const access = kafka.security!
  secureEnv = access.env
  password = access.password
  // Another CA, which did not sign the broker's certificate.
  const other = path.join(dir, 'other-ca')
  mkdirSync(other)
  const kt = (args: string[]) =>
    execFileSync(keytoolCommand(), args, {
      cwd: other,
      stdio: 'ignore',
      env: { ...process.env, KD_PW: 'other-ca-pw' },
    })
  const store = ['-keystore', 'ca.p12', '-storetype', 'PKCS12', '-storepass:env', 'KD_PW']
  kt([
    '-genkeypair',
    '-alias',
    'ca',
    '-keyalg',
    'EC',
    '-groupname',
    'secp256r1',
    '-dname',
    'CN=another CA',
    '-ext',
    'bc:c',
    ...store,
    '-keypass:env',
    'KD_PW',
  ])
  kt(['-exportcert', '-rfc', '-alias', 'ca', ...store, '-file', 'ca.pem'])
  otherCaFile = path.join(other, 'ca.pem')
  signWithOtherCa = (csr, cert) =>
    kt([
      '-gencert',
      '-alias',
      'ca',
      ...store,
      '-infile',
      csr,
      '-outfile',
      cert,
      '-rfc',
      '-ext',
      'EKU=clientAuth',
    ])
}, 240_000)

afterAll(async () => {
  console.log(`[secured-broker] fail-fast times:\n  ${timings.join('\n  ')}`)
  await kafka?.stop()
}, 60_000)

describe('secured broker (SASL_SSL, SCRAM-SHA-512): worker, CLI and client', () => {
  let topology: Topology
  let worker: Worker | undefined
  let log: ReturnType<typeof capturedLogger>

  afterAll(async () => {
    await worker?.stop()
  }, 60_000)

  it('the handle says how to connect; the broker is plaintext only on its internal listener', () => {
    const s = kafka.security!
    expect(s).toMatchObject({ protocol: 'SASL_SSL', mechanism: 'scram-sha-512', username: 'decider' })
    expect(readFileSync(s.caFile, 'utf8')).toContain('-----BEGIN CERTIFICATE-----')
    expect(readFileSync(s.passwordFile, 'utf8').trim()).toBe(password)
    expect(password.length).toBeGreaterThanOrEqual(24)
    // printing the handle does not show the password
    expect(JSON.stringify(kafka.security)).not.toContain(password)
    expect(readFileSync(s.envFile, 'utf8')).toContain(`KAFKA_SASL_PASSWORD_FILE=${s.passwordFile}`)
    expect(readFileSync(s.envFile, 'utf8')).not.toContain(password)
    expect(secureEnv.KAFKA_BROKERS).toBe(kafka.bootstrap)
  })

  it('a worker in process answers commands over TLS + SCRAM (password from a file)', async () => {
    topology = await loadTopology(topologyFile)
    log = capturedLogger('debug')
    worker = new Worker({ topologies: [topology], config: workerConfig(secureEnv), logger: log.logger })
    await worker.start()
    await waitReady(worker, 90_000)
    const client = new CommandClient({
      kafkaConfig: workerConfig(secureEnv).kafka,
      commandsTopic: topology.topics.commands,
      repliesTopic: topology.topics.replies,
    })
    try {
      const reply = await client.sendAndWait(
        { aggregateId: 'acc-1', type: 'CreateAccount', payload: { owner: 'Ada' } },
        60_000,
      )
      expect(reply.status).toBe('accepted')
    } finally {
      await client.close()
    }
  }, 150_000)

  it('the CLI: send --wait and topics check over TLS + SCRAM (password from KAFKA_SASL_PASSWORD)', async () => {
    const env = { ...secureEnv, KAFKA_SASL_PASSWORD_FILE: '', KAFKA_SASL_PASSWORD: password }
    const sent = await runCli(
      [
        'send',
        topologyFile,
        '-t',
        'Deposit',
        '-i',
        'acc-1',
        '-p',
        '{"amount":100}',
        '--wait',
        '--timeout',
        '60000',
      ],
      env,
      90_000,
    )
    expect(sent.code, sent.stderr).toBe(0)
    expect(JSON.parse(sent.stdout)).toMatchObject({ status: 'accepted', version: 2 })
    const check = await runCli(['topics', 'check', topologyFile], env, 60_000)
    expect(check.code, check.stderr).toBe(0)
    expect(check.stdout).toMatch(/topics ok/)
  }, 180_000)

  it('decider describe shows the connection with the password masked', async () => {
    const r = await runCli(['describe', topologyFile], { ...secureEnv }, 60_000)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(
      `SASL: SCRAM-SHA-512 as decider, password *** (from the file ${secureEnv.KAFKA_SASL_PASSWORD_FILE}`,
    )
    expect(r.stdout).toContain(`trusts ${secureEnv.KAFKA_SSL_CA_FILE}`)
    expect(r.stdout + r.stderr).not.toContain(password)
  }, 60_000)

  it("the worker's log of that start holds neither the password nor key material", () => {
    const text = log.text()
    expect(text).toContain('kafka connection checked')
    expect(text).toContain('"password":"***"')
    expect(text).toContain('worker ready')
    expect(text).not.toContain(password)
    const storePassword = readFileSync(path.join(kafka.dir, 'tls', 'store.password'), 'utf8').trim()
    expect(text).not.toContain(storePassword)
    expect(text).not.toMatch(/-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----/)
    // and the dev broker does not log them either
    const brokerLog = readFileSync(kafka.logFile, 'utf8')
    expect(brokerLog).not.toContain(password)
    expect(brokerLog).not.toContain(storePassword)
  })
})

describe('a wrong password fails fast (< 10 s) with a clear error, not a retry loop', () => {
  const wrong = () => ({
    ...secureEnv,
    KAFKA_SASL_PASSWORD_FILE: '',
    KAFKA_SASL_PASSWORD: `${password}-wrong`,
  })
  const clear = (m: string) => {
    expect(m).toContain(`Kafka authentication failed at broker ${kafka.bootstrap}`)
    expect(m).toContain('SASL SCRAM-SHA-512 as user "decider" was refused')
    expect(m).toContain('Check the password (read from the environment variable KAFKA_SASL_PASSWORD)')
    expect(m).not.toContain(password)
  }

  it('worker start', async () => {
    const topology = await loadTopology(topologyFile)
    const w = new Worker({
      topologies: [topology],
      config: workerConfig(wrong(), path.join(dir, 'state-wrong')),
      logger: pino({ level: 'silent' }),
    })
    const { value: e, ms } = await timed('wrong password, worker start', () => rejection(w.start()))
    await w.stop()
    expect(e).toBeInstanceOf(KafkaAuthenticationError)
    clear(e.message)
    expect(ms).toBeLessThan(FAIL_FAST_MS)
  }, 60_000)

  it('CLI: send --wait, topics check and run exit 2 with the message', async () => {
    for (const [label, args] of [
      ['send --wait', ['send', topologyFile, '-t', 'Deposit', '-i', 'acc-1', '-p', '{"amount":1}', '--wait']],
      ['topics check', ['topics', 'check', topologyFile]],
      ['run', ['run', topologyFile]],
    ] as const) {
      const { value: r, ms } = await timed(`wrong password, CLI ${label} (whole process)`, () =>
        runCli(
          [...args],
          { ...wrong(), DECIDER_STATE_DIR: path.join(dir, 'state-cli'), DECIDER_HTTP_PORT: '0' },
          60_000,
        ),
      )
      expect(r.code, `${label}: ${r.stderr}`).toBe(2)
      if (label === 'run') {
        // The worker logs JSON lines (stdout is not a terminal): its fatal line carries the error.
        const fatal = r.stdout
          .split('\n')
          .filter((l) => l.includes('worker failed to start'))
          .map((l) => JSON.parse(l) as { err: { code: string; message: string } })[0]
        expect(fatal?.err.code, r.stdout).toBe('kafka_authentication_failed')
        clear(fatal!.err.message)
        expect(r.stdout).not.toContain(password)
      } else clear(r.stderr)
      expect(ms, label).toBeLessThan(FAIL_FAST_MS)
    }
  }, 120_000)

  it('CommandClient: send and sendAndWait', async () => {
    const client = new CommandClient({
      kafkaConfig: workerConfig(wrong()).kafka,
      commandsTopic: `${name}.commands`,
      repliesTopic: `${name}.replies`,
    })
    try {
      const { value: e, ms } = await timed('wrong password, CommandClient sendAndWait', () =>
        rejection(
          client.sendAndWait({ aggregateId: 'acc-1', type: 'Deposit', payload: { amount: 1 } }, 60_000),
        ),
      )
      expect(e).toBeInstanceOf(KafkaAuthenticationError)
      clear(e.message)
      expect(ms).toBeLessThan(FAIL_FAST_MS)
      const sent = await rejection(
        client.send({ aggregateId: 'acc-1', type: 'Deposit', payload: { amount: 1 } }),
      )
      expect(sent).toBeInstanceOf(KafkaAuthenticationError)
    } finally {
      await client.close()
    }
  }, 60_000)
})

describe('an untrusted certificate fails fast (< 10 s) with a clear error', () => {
  /** TLS with the system's CAs (none of which signed the dev CA), or with another CA. */
  const noCa = () => ({ ...secureEnv, KAFKA_SSL_CA_FILE: '', KAFKA_SSL: 'true' })
  const otherCa = () => ({ ...secureEnv, KAFKA_SSL_CA_FILE: otherCaFile })
  const clear = (m: string) => {
    expect(m).toContain(
      `Kafka TLS check failed: the certificate of broker ${kafka.bootstrap} is not trusted (`,
    )
    expect(m).toContain('Check kafka.ssl.ca (KAFKA_SSL_CA_FILE')
  }

  it('worker start, without the CA and with another CA', async () => {
    const topology = await loadTopology(topologyFile)
    for (const [label, env] of [
      ['no CA', noCa()],
      ['another CA', otherCa()],
    ] as const) {
      const w = new Worker({
        topologies: [topology],
        config: workerConfig(env, path.join(dir, 'state-tls')),
        logger: pino({ level: 'silent' }),
      })
      const { value: e, ms } = await timed(`untrusted certificate (${label}), worker start`, () =>
        rejection(w.start()),
      )
      await w.stop()
      expect(e, label).toBeInstanceOf(KafkaTlsError)
      clear(e.message)
      expect(e.message).toContain(
        label === 'no CA' ? "now none: the system's default CAs are used" : `now ${otherCaFile}`,
      )
      expect(ms, label).toBeLessThan(FAIL_FAST_MS)
    }
  }, 60_000)

  it('CLI: send --wait and topics check exit 2 with the message', async () => {
    for (const [label, args, env] of [
      ['send --wait, no CA', ['send', topologyFile, '-t', 'Deposit', '-i', 'acc-1', '--wait'], noCa()],
      ['topics check, another CA', ['topics', 'check', topologyFile], otherCa()],
    ] as const) {
      const { value: r, ms } = await timed(`untrusted certificate, CLI ${label} (whole process)`, () =>
        runCli([...args], env, 60_000),
      )
      expect(r.code, `${label}: ${r.stderr}`).toBe(2)
      clear(r.stderr)
      expect(ms, label).toBeLessThan(FAIL_FAST_MS)
    }
  }, 120_000)

  it('CommandClient', async () => {
    const client = new CommandClient({
      kafkaConfig: workerConfig(otherCa()).kafka,
      commandsTopic: `${name}.commands`,
      repliesTopic: `${name}.replies`,
    })
    try {
      const { value: e, ms } = await timed('untrusted certificate, CommandClient sendAndWait', () =>
        rejection(
          client.sendAndWait({ aggregateId: 'acc-1', type: 'Deposit', payload: { amount: 1 } }, 60_000),
        ),
      )
      expect(e).toBeInstanceOf(KafkaTlsError)
      clear(e.message)
      expect(ms).toBeLessThan(FAIL_FAST_MS)
    } finally {
      await client.close()
    }
  }, 60_000)
})

describe.skipIf(!hasOpenssl())(
  'mutual TLS: a client certificate from kafka.ssl.cert and kafka.ssl.key',
  () => {
    it('one signed by the CA the broker trusts connects; one signed by another CA fails fast with a clear error', async () => {
      const mtls = path.join(dir, 'mtls')
      mkdirSync(mtls)
      const key = path.join(mtls, 'client.key')
      const csr = path.join(mtls, 'client.csr')
      execFileSync(
        'openssl',
        ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
          '-subj',
          '/CN=decider',
          '-keyout',
          key,
          '-out',
          csr,
        ]),
        { stdio: 'ignore' },
      )
      const trusted = path.join(mtls, 'client.pem')
      await signClientCertificate(path.join(kafka.dir, 'tls'), csr, trusted)
      const untrusted = path.join(mtls, 'client-other.pem')
      signWithOtherCa(csr, untrusted)

      const ok = await runCli(['topics', 'check', topologyFile], {
        ...secureEnv,
        KAFKA_SSL_CERT_FILE: trusted,
        KAFKA_SSL_KEY_FILE: key,
      })
      expect(ok.code, ok.stderr).toBe(0)

      const topology = await loadTopology(topologyFile)
      const w = new Worker({
        topologies: [topology],
        config: workerConfig(
          { ...secureEnv, KAFKA_SSL_CERT_FILE: untrusted, KAFKA_SSL_KEY_FILE: key },
          path.join(dir, 'state-mtls'),
        ),
        logger: pino({ level: 'silent' }),
      })
      const { value: e, ms } = await timed('client certificate of another CA, worker start', () =>
        rejection(w.start()),
      )
      await w.stop()
      expect(e).toBeInstanceOf(KafkaTlsError)
      expect(e.message).toContain(
        `Kafka TLS check failed: broker ${kafka.bootstrap} refused the TLS handshake (`,
      )
      expect(e.message).toContain('set kafka.ssl.cert and kafka.ssl.key')
      expect(ms).toBeLessThan(FAIL_FAST_MS)
    }, 120_000)
  },
)
