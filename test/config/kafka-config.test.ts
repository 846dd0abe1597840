/**
 * The kafka section of the worker config: TLS files and SASL credentials from the environment or files the config
 * names (never a password in the YAML file), checked when the config is read, and masked wherever the config is shown.
 */
import { execFileSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { inspect } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import { describeKafkaConnection, kafkaConnectionLines } from '../../src/config/kafka-config.ts'
import { Secret } from '../../src/config/secret.ts'
import { loadWorkerConfig, resolveWorkerConfig } from '../../src/config/worker-config.ts'
import { ConfigError } from '../../src/errors.ts'
import { kafkaSecurityOptions } from '../../src/kafka/security.ts'

const configError = (fn: () => unknown): string => {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError)
    return (e as Error).message
  }
  throw new Error('expected a ConfigError')
}

const dir = mkdtempSync(path.join(tmpdir(), 'kd-kafka-config-'))
const file = (name: string, text: string): string => {
  const f = path.join(dir, name)
  writeFileSync(f, text)
  return f
}

/** openssl makes a certificate with its key (Node cannot); the cases that need one are skipped without it. */
function openssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
const hasOpenssl = openssl()

describe('kafka.sasl', () => {
  it('a password written in the config file is refused, saying where to put it', async () => {
    const yaml = file(
      'pw.yaml',
      'kafka:\n  sasl:\n    mechanism: scram-sha-512\n    username: svc\n    password: hunter2\n',
    )
    await expect(loadWorkerConfig(yaml, {})).rejects.toThrow(ConfigError)
    const message = await loadWorkerConfig(yaml, {}).catch((e: Error) => e.message)
    expect(message).toMatch(/kafka\.sasl\.password: a password in the config file is refused/)
    expect(message).toContain('KAFKA_SASL_PASSWORD')
    expect(message).toContain('kafka.sasl.passwordFile')
    expect(message).not.toContain('hunter2')
    // also when the environment has one: the file must not hold it either way
    expect(
      configError(() =>
        resolveWorkerConfig(
          { kafka: { sasl: { username: 'svc', password: 'hunter2' } } },
          { KAFKA_SASL_PASSWORD: 'x' },
        ),
      ),
    ).toMatch(/kafka\.sasl\.password/)
  })

  it('the password from a file (first line, no line break), named by the config or KAFKA_SASL_PASSWORD_FILE', () => {
    const pw = file('password', 's3cret\n')
    const fromConfig = resolveWorkerConfig(
      { kafka: { sasl: { mechanism: 'scram-sha-512', username: 'svc', passwordFile: pw } } },
      {},
    ).kafka.sasl
    expect(fromConfig?.password.reveal()).toBe('s3cret')
    expect(fromConfig?.password.source).toContain(pw)
    const fromEnv = resolveWorkerConfig(
      {},
      { KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD_FILE: file('pw2', 'other\r\nignored\n') },
    ).kafka.sasl
    expect(fromEnv?.password.reveal()).toBe('other')
    expect(fromEnv?.password.source).toContain('KAFKA_SASL_PASSWORD_FILE')
    // the environment's password wins over the file the config names (the environment overrides the file)
    expect(
      resolveWorkerConfig(
        { kafka: { sasl: { username: 'svc', passwordFile: pw } } },
        { KAFKA_SASL_PASSWORD: 'env' },
      ).kafka.sasl?.password.reveal(),
    ).toBe('env')
  })

  it('missing or unreadable credentials are named, never echoed', () => {
    expect(configError(() => resolveWorkerConfig({ kafka: { sasl: { username: 'svc' } } }, {}))).toMatch(
      /no password for user svc: set KAFKA_SASL_PASSWORD, or name a file holding it with KAFKA_SASL_PASSWORD_FILE or kafka\.sasl\.passwordFile/,
    )
    expect(configError(() => resolveWorkerConfig({}, { KAFKA_SASL_PASSWORD: 'p' }))).toMatch(
      /no user name: set KAFKA_SASL_USERNAME/,
    )
    const missing = path.join(dir, 'nope')
    expect(
      configError(() =>
        resolveWorkerConfig({}, { KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD_FILE: missing }),
      ),
    ).toBe(`KAFKA_SASL_PASSWORD_FILE: cannot read ${missing}: ENOENT`)
    expect(
      configError(() =>
        resolveWorkerConfig({}, { KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD_FILE: file('empty', '\n') }),
      ),
    ).toMatch(/is empty; its first line must be the password/)
    expect(
      configError(() =>
        resolveWorkerConfig(
          {},
          { KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'a', KAFKA_SASL_PASSWORD_FILE: file('p3', 'b') },
        ),
      ),
    ).toMatch(/both KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE are set/)
  })

  it('the password prints as *** everywhere: JSON, inspect, strings, describe', () => {
    const c = resolveWorkerConfig(
      { kafka: { sasl: { mechanism: 'scram-sha-512', username: 'svc' } } },
      { KAFKA_SASL_PASSWORD: 'hunter2-secret' },
    )
    expect(JSON.stringify(c)).not.toContain('hunter2')
    expect(JSON.stringify(c)).toContain('"password":"***"')
    expect(inspect(c, { depth: 10 })).not.toContain('hunter2')
    expect(`${c.kafka.sasl?.password}`).toBe('***')
    expect(describeKafkaConnection(c.kafka).sasl).toEqual({
      mechanism: 'SCRAM-SHA-512',
      username: 'svc',
      password: '***',
      passwordFrom: 'the environment variable KAFKA_SASL_PASSWORD',
    })
    expect(kafkaConnectionLines(c.kafka).join('\n')).toContain(
      'SASL: SCRAM-SHA-512 as svc, password *** (from the environment variable KAFKA_SASL_PASSWORD)',
    )
    expect(kafkaConnectionLines(c.kafka).join('\n')).not.toContain('hunter2')
    // only the kafkajs options get the value
    expect(kafkaSecurityOptions(c.kafka).sasl).toEqual({
      mechanism: 'scram-sha-512',
      username: 'svc',
      password: 'hunter2-secret',
    })
    expect(new Secret('x', 'somewhere').reveal()).toBe('x')
  })
})

describe('kafka.ssl', () => {
  let ca = ''
  let cert = ''
  let key = ''
  beforeAll(() => {
    if (!hasOpenssl) return
    cert = path.join(dir, 'client.pem')
    key = path.join(dir, 'client.key')
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=kafka-decider test',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    )
    ca = cert
  })

  it('KAFKA_SSL=true and an empty object are TLS with the system CAs; false and absent are plaintext', () => {
    expect(resolveWorkerConfig({}, {}).kafka.ssl).toBeUndefined()
    expect(resolveWorkerConfig({}, { KAFKA_SSL: 'true' }).kafka.ssl).toBe(true)
    expect(resolveWorkerConfig({ kafka: { ssl: {} } }, {}).kafka.ssl).toBe(true)
    expect(resolveWorkerConfig({ kafka: { ssl: true } }, { KAFKA_SSL: 'false' }).kafka.ssl).toBeUndefined()
    expect(configError(() => resolveWorkerConfig({}, { KAFKA_SSL: 'yes' }))).toBe(
      'KAFKA_SSL=yes: use true or false',
    )
    expect(describeKafkaConnection(resolveWorkerConfig({}, { KAFKA_SSL: 'true' }).kafka).tls).toEqual({
      ca: "the system's default CAs",
      verifyBroker: true,
      clientCertificate: 'none',
    })
  })

  it('a CA file that does not exist or holds no PEM certificate is named', () => {
    const missing = path.join(dir, 'missing-ca.pem')
    expect(configError(() => resolveWorkerConfig({}, { KAFKA_SSL_CA_FILE: missing }))).toBe(
      `kafka.ssl.ca (KAFKA_SSL_CA_FILE): cannot read ${missing}: ENOENT`,
    )
    const notPem = file('not-a-cert.pem', 'hello\n')
    expect(configError(() => resolveWorkerConfig({ kafka: { ssl: { ca: notPem } } }, {}))).toMatch(
      /kafka\.ssl\.ca \(KAFKA_SSL_CA_FILE\): .*not-a-cert\.pem holds no PEM certificate/,
    )
    const broken = file('broken.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')
    expect(configError(() => resolveWorkerConfig({ kafka: { ssl: { ca: broken } } }, {}))).toMatch(
      /certificate 1 of .*broken\.pem does not parse/,
    )
    expect(
      configError(() => resolveWorkerConfig({}, { KAFKA_SSL: 'false', KAFKA_SSL_CA_FILE: notPem })),
    ).toMatch(/KAFKA_SSL=false, but KAFKA_SSL_CA_FILE is set/)
  })

  it('a client certificate needs its key, and they must match; an encrypted key is refused', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const otherKey = file('other.key', privateKey.export({ type: 'pkcs8', format: 'pem' }) as string)
    expect(configError(() => resolveWorkerConfig({ kafka: { ssl: { key: otherKey } } }, {}))).toMatch(
      /kafka\.ssl\.key \(KAFKA_SSL_KEY_FILE\) is set without kafka\.ssl\.cert \(KAFKA_SSL_CERT_FILE\)/,
    )
    const encrypted = file(
      'enc.key',
      privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }) as string,
    )
    if (!hasOpenssl) return
    expect(configError(() => resolveWorkerConfig({ kafka: { ssl: { cert, key: encrypted } } }, {}))).toMatch(
      /enc\.key is an encrypted private key, which is not supported/,
    )
    expect(configError(() => resolveWorkerConfig({ kafka: { ssl: { cert, key: otherKey } } }, {}))).toMatch(
      /the private key in .*other\.key does not belong to the certificate in .*client\.pem/,
    )
  })

  it.skipIf(!hasOpenssl)(
    'CA, certificate and key from the environment; the files are read into the kafkajs options',
    () => {
      const c = resolveWorkerConfig(
        { kafka: { ssl: { rejectUnauthorized: true } } },
        {
          KAFKA_SSL_CA_FILE: ca,
          KAFKA_SSL_CERT_FILE: cert,
          KAFKA_SSL_KEY_FILE: key,
          KAFKA_SSL_REJECT_UNAUTHORIZED: 'false',
        },
      )
      expect(c.kafka.ssl).toEqual({ ca, cert, key, rejectUnauthorized: false })
      const tls = kafkaSecurityOptions(c.kafka).ssl as { ca: string[]; cert: string; key: string }
      expect(tls.ca[0]).toContain('-----BEGIN CERTIFICATE-----')
      expect(tls.cert).toContain('-----BEGIN CERTIFICATE-----')
      expect(tls.key).toContain('PRIVATE KEY-----')
      // the config holds paths, not key material
      expect(JSON.stringify(c)).not.toContain('PRIVATE KEY')
      expect(describeKafkaConnection(c.kafka).tls).toEqual({
        ca,
        verifyBroker: false,
        clientCertificate: `${cert} (key ${key})`,
      })
    },
  )
})
