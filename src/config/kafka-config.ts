/**
 * The `kafka` section of the worker config: brokers, TLS and SASL, from the YAML file and the environment.
 *
 * Secrets come only from the environment or from files the config names: a password written in the YAML file is
 * refused. TLS material is named by file (PEM): the CA to trust, and for mutual TLS a client certificate and key;
 * each file is read and checked here (a missing file, something that is not PEM, a key that does not match its
 * certificate is a ConfigError naming the file), and read again by the Kafka client when it is built. The resolved
 * password is a Secret: it prints as *** in logs, JSON and `decider describe`.
 *
 * Environment (overrides the file): KAFKA_BROKERS, KAFKA_CLIENT_ID, KAFKA_SSL (true|false), KAFKA_SSL_CA_FILE,
 * KAFKA_SSL_CERT_FILE, KAFKA_SSL_KEY_FILE, KAFKA_SSL_REJECT_UNAUTHORIZED (true|false), KAFKA_SASL_MECHANISM,
 * KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SASL_PASSWORD_FILE.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { ConfigError } from '../errors.ts'
import { MASK, Secret } from './secret.ts'

export const SASL_MECHANISMS = z.enum(['plain', 'scram-sha-256', 'scram-sha-512'])
export type SaslMechanism = z.infer<typeof SASL_MECHANISMS>

const PASSWORD_IN_FILE =
  'a password in the config file is refused (the file is not a place for secrets): put it in the environment ' +
  '(KAFKA_SASL_PASSWORD) or in a file of its own named by kafka.sasl.passwordFile (or KAFKA_SASL_PASSWORD_FILE)'

const sslFilesSchema = z
  .object({
    /** PEM file: the CA certificate(s) that signed the brokers' certificates; replaces the system's CAs. */
    ca: z.string().min(1).optional(),
    /** PEM file: this client's certificate, for brokers that require one (ssl.client.auth=required). */
    cert: z.string().min(1).optional(),
    /** PEM file: the private key of `cert` (not encrypted). */
    key: z.string().min(1).optional(),
    /** false: do not verify the brokers' certificates (logged as a warning; never in production). */
    rejectUnauthorized: z.boolean().optional(),
  })
  .strict()

const saslFileSchema = z
  .object({
    mechanism: SASL_MECHANISMS.optional(),
    username: z.string().min(1).optional(),
    password: z.never({ error: PASSWORD_IN_FILE }).optional(),
    /** A file holding the password (its first line; e.g. a mounted Kubernetes or Docker secret). */
    passwordFile: z.string().min(1).optional(),
  })
  .strict()

/** The `kafka` section as the YAML file may write it. */
export const kafkaFileSchema = z
  .object({
    brokers: z.array(z.string().min(1)).min(1).default(['127.0.0.1:9092']),
    clientId: z.string().min(1).default('kafka-decider'),
    ssl: z.union([z.boolean(), sslFilesSchema]).optional(),
    sasl: saslFileSchema.optional(),
    connectionTimeoutMs: z.number().int().positive().default(3000),
    requestTimeoutMs: z.number().int().positive().default(30_000),
  })
  .strict()
  .prefault({})

export type KafkaFileConfig = z.infer<typeof kafkaFileSchema>

/** TLS settings: the PEM files (paths; read when a client is built) and whether to verify the brokers. */
export interface KafkaTlsFiles {
  ca?: string
  cert?: string
  key?: string
  rejectUnauthorized?: boolean
}

export interface KafkaSasl {
  mechanism: SaslMechanism
  username: string
  password: Secret
}

/** The resolved `kafka` section: what the Kafka clients are built from. */
export interface KafkaClientConfig {
  brokers: string[]
  clientId: string
  /** undefined: plaintext; true: TLS with the system's CAs; an object: TLS with these files. */
  ssl?: true | KafkaTlsFiles
  sasl?: KafkaSasl
  connectionTimeoutMs: number
  requestTimeoutMs: number
}

/** The file's `kafka` section with the environment applied; every named file is read and checked. */
export function resolveKafkaConfig(file: KafkaFileConfig, env: NodeJS.ProcessEnv): KafkaClientConfig {
  const c: KafkaClientConfig = {
    brokers: file.brokers,
    clientId: file.clientId,
    connectionTimeoutMs: file.connectionTimeoutMs,
    requestTimeoutMs: file.requestTimeoutMs,
  }
  if (env.KAFKA_BROKERS)
    c.brokers = env.KAFKA_BROKERS.split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  if (env.KAFKA_CLIENT_ID) c.clientId = env.KAFKA_CLIENT_ID
  const ssl = resolveSsl(file.ssl, env)
  if (ssl !== undefined) c.ssl = ssl
  const sasl = resolveSasl(file.sasl, env)
  if (sasl !== undefined) c.sasl = sasl
  return c
}

function booleanEnv(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const v = env[name]
  if (v === undefined || v === '') return undefined
  if (v !== 'true' && v !== 'false') throw new ConfigError(`${name}=${v}: use true or false`)
  return v === 'true'
}

const SSL_FILE_ENV = {
  ca: 'KAFKA_SSL_CA_FILE',
  cert: 'KAFKA_SSL_CERT_FILE',
  key: 'KAFKA_SSL_KEY_FILE',
} as const

function resolveSsl(file: KafkaFileConfig['ssl'], env: NodeJS.ProcessEnv): true | KafkaTlsFiles | undefined {
  const on = booleanEnv(env, 'KAFKA_SSL')
  const reject = booleanEnv(env, 'KAFKA_SSL_REJECT_UNAUTHORIZED')
  const fromEnv: KafkaTlsFiles = {}
  for (const [k, name] of Object.entries(SSL_FILE_ENV) as [keyof typeof SSL_FILE_ENV, string][]) {
    if (env[name]) fromEnv[k] = env[name]
  }
  if (reject !== undefined) fromEnv.rejectUnauthorized = reject
  const envNamesTls = Object.keys(fromEnv).length > 0
  if (on === false) {
    if (envNamesTls)
      throw new ConfigError(
        `KAFKA_SSL=false, but ${[...Object.values(SSL_FILE_ENV), 'KAFKA_SSL_REJECT_UNAUTHORIZED']
          .filter((n) => env[n])
          .join(', ')} is set: remove KAFKA_SSL=false to connect with TLS, or unset the TLS settings`,
      )
    return undefined
  }
  const base: KafkaTlsFiles | true | undefined =
    file === undefined || file === false ? undefined : file === true ? true : { ...file }
  let ssl: true | KafkaTlsFiles | undefined
  if (envNamesTls) ssl = { ...(base === true || base === undefined ? {} : base), ...fromEnv }
  else if (on === true) ssl = base ?? true
  else ssl = base
  if (ssl === undefined || ssl === true) return ssl
  if (Object.keys(ssl).length === 0) return true
  checkTlsFiles(ssl)
  return ssl
}

/** Where a TLS file setting comes from, for messages. */
const tlsSetting = (k: keyof typeof SSL_FILE_ENV) => `kafka.ssl.${k} (${SSL_FILE_ENV[k]})`

function readSettingFile(path: string, setting: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    throw new ConfigError(
      `${setting}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    )
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/** The certificates of a PEM file; a ConfigError naming the file when there is none or one does not parse. */
export function pemCertificates(text: string, path: string, setting: string): X509Certificate[] {
  const blocks = text.match(PEM_CERT) ?? []
  if (blocks.length === 0)
    throw new ConfigError(
      `${setting}: ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the certificate in PEM form`,
    )
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b)
    } catch (e) {
      throw new ConfigError(
        `${setting}: certificate ${i + 1} of ${path} does not parse: ${(e as Error).message}`,
      )
    }
  })
}

function checkTlsFiles(ssl: KafkaTlsFiles): void {
  if (ssl.ca !== undefined)
    pemCertificates(readSettingFile(ssl.ca, tlsSetting('ca')), ssl.ca, tlsSetting('ca'))
  if ((ssl.cert === undefined) !== (ssl.key === undefined))
    throw new ConfigError(
      `${ssl.cert === undefined ? tlsSetting('key') : tlsSetting('cert')} is set without ${ssl.cert === undefined ? tlsSetting('cert') : tlsSetting('key')}: ` +
        'a client certificate (mutual TLS) needs both, the certificate and its private key',
    )
  if (ssl.cert === undefined || ssl.key === undefined) return
  const [cert] = pemCertificates(readSettingFile(ssl.cert, tlsSetting('cert')), ssl.cert, tlsSetting('cert'))
  const keyText = readSettingFile(ssl.key, tlsSetting('key'))
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(keyText))
    throw new ConfigError(
      `${tlsSetting('key')}: ${ssl.key} is an encrypted private key, which is not supported: give it unencrypted ` +
        '(e.g. `openssl pkey -in key.pem -out key.plain.pem`) in a file only this service can read',
    )
  let key
  try {
    key = createPrivateKey(keyText)
  } catch {
    // The reason OpenSSL gives may quote the file; say only what is wrong.
    throw new ConfigError(`${tlsSetting('key')}: ${ssl.key} is not a PEM private key`)
  }
  if (!cert!.checkPrivateKey(key))
    throw new ConfigError(
      `${tlsSetting('key')}: the private key in ${ssl.key} does not belong to the certificate in ${ssl.cert} (${tlsSetting('cert')})`,
    )
}

function resolveSasl(file: KafkaFileConfig['sasl'], env: NodeJS.ProcessEnv): KafkaSasl | undefined {
  const wanted =
    file !== undefined ||
    !!env.KAFKA_SASL_USERNAME ||
    !!env.KAFKA_SASL_PASSWORD ||
    !!env.KAFKA_SASL_PASSWORD_FILE
  if (!wanted) return undefined
  const where = 'kafka.sasl (KAFKA_SASL_*)'
  const mechanism = SASL_MECHANISMS.safeParse(env.KAFKA_SASL_MECHANISM ?? file?.mechanism ?? 'plain')
  if (!mechanism.success)
    throw new ConfigError(
      `${where}: mechanism "${env.KAFKA_SASL_MECHANISM}" is not one of ${SASL_MECHANISMS.options.join(', ')} (OAUTHBEARER, AWS IAM and GSSAPI are not supported)`,
    )
  const username = env.KAFKA_SASL_USERNAME || file?.username
  if (!username)
    throw new ConfigError(
      `${where}: no user name: set KAFKA_SASL_USERNAME (or kafka.sasl.username in the file)`,
    )
  if (env.KAFKA_SASL_PASSWORD && env.KAFKA_SASL_PASSWORD_FILE)
    throw new ConfigError(
      `${where}: both KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE are set; set one of them`,
    )
  let password: Secret
  if (env.KAFKA_SASL_PASSWORD) {
    password = new Secret(env.KAFKA_SASL_PASSWORD, 'the environment variable KAFKA_SASL_PASSWORD')
  } else {
    const path = env.KAFKA_SASL_PASSWORD_FILE || file?.passwordFile
    if (!path)
      throw new ConfigError(
        `${where}: no password for user ${username}: set KAFKA_SASL_PASSWORD, or name a file holding it with ` +
          'KAFKA_SASL_PASSWORD_FILE or kafka.sasl.passwordFile',
      )
    const setting = env.KAFKA_SASL_PASSWORD_FILE ? 'KAFKA_SASL_PASSWORD_FILE' : 'kafka.sasl.passwordFile'
    const text = readSettingFile(path, setting)
    // The first line, without its line break: `echo secret > file` and a mounted secret both work.
    const value = text.split(/\r?\n/)[0] ?? ''
    if (value === '')
      throw new ConfigError(`${setting}: ${path} is empty; its first line must be the password`)
    password = new Secret(value, `the file ${path} (${setting})`)
  }
  return { mechanism: mechanism.data, username, password }
}

/**
 * The connection settings without secrets: for `decider describe`, the worker's start log and error messages.
 * The password shows as *** with where it came from.
 */
export function describeKafkaConnection(c: KafkaClientConfig): {
  brokers: string[]
  clientId: string
  tls: 'off' | { ca: string; verifyBroker: boolean; clientCertificate: string }
  sasl: 'off' | { mechanism: string; username: string; password: string; passwordFrom: string }
} {
  const tls =
    c.ssl === undefined
      ? ('off' as const)
      : {
          ca: (c.ssl !== true && c.ssl.ca) || "the system's default CAs",
          verifyBroker: c.ssl === true || c.ssl.rejectUnauthorized !== false,
          clientCertificate:
            c.ssl !== true && c.ssl.cert !== undefined ? `${c.ssl.cert} (key ${c.ssl.key})` : 'none',
        }
  const sasl =
    c.sasl === undefined
      ? ('off' as const)
      : {
          mechanism: c.sasl.mechanism.toUpperCase(),
          username: c.sasl.username,
          password: MASK,
          passwordFrom: c.sasl.password.source,
        }
  return { brokers: c.brokers, clientId: c.clientId, tls, sasl }
}

/** The same as text lines (indented by `indent`), for `decider describe`. */
export function kafkaConnectionLines(c: KafkaClientConfig, indent = ''): string[] {
  const d = describeKafkaConnection(c)
  return [
    `${indent}Brokers: ${d.brokers.join(', ')} (client id ${d.clientId})`,
    `${indent}TLS: ${
      d.tls === 'off'
        ? 'off (plaintext)'
        : `on; trusts ${d.tls.ca}; ${d.tls.verifyBroker ? "verifies the brokers' certificates" : "does NOT verify the brokers' certificates (rejectUnauthorized: false)"}; client certificate: ${d.tls.clientCertificate}`
    }`,
    `${indent}SASL: ${
      d.sasl === 'off'
        ? 'off'
        : `${d.sasl.mechanism} as ${d.sasl.username}, password ${d.sasl.password} (from ${d.sasl.passwordFrom})`
    }`,
  ]
}
