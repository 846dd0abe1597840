/**
 * The secured mode of the local broker (`startKafka({ security: 'sasl_ssl' })`, `decider kafka start --secure`): the
 * client listener is SASL_SSL with SCRAM-SHA-512, the controller and inter-broker listeners stay PLAINTEXT on
 * 127.0.0.1 (see properties.ts).
 *
 * Made at the first start in the broker's directory, never committed (they live in the temp dir or `.kafka/`), and
 * kept with the data so that a restarted daemon keeps its CA and user:
 *   tls/ca.p12, tls/ca.pem     a CA (EC P-256, keytool), its certificate exported as PEM for Node clients
 *   tls/broker.p12             the broker's key and certificate signed by the CA (SAN IP:127.0.0.1, DNS:localhost)
 *   tls/trust.p12              the CA as the broker's truststore: the listener asks for a client certificate
 *                              (ssl.client.auth=requested) and takes one signed by this CA (signClientCertificate)
 *   tls/store.password         the password of the PKCS12 stores (random)
 *   client/password            the SCRAM-SHA-512 password of user `decider` (random), created in the metadata log by
 *                              `kafka-storage format --add-scram` (KRaft; kafkajs cannot create SCRAM users)
 *   client.env                 KAFKA_* variables that connect a worker or the CLI (the password by file)
 * Secret files are mode 0600. The passwords never appear in logs or on a command line: keytool takes them from its
 * environment (-storepass:env); only `kafka-storage format` gets the SCRAM password as an argument, as its --add-scram
 * option requires, for the second it runs.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run, tailLines } from './exec.ts'
import type { ClientSecurity } from './wait.ts'

export type BrokerSecurity = 'plaintext' | 'sasl_ssl'

/** The SCRAM user the secured dev broker is created with. */
export const DEV_SCRAM_USER = 'decider'
export const DEV_SCRAM_MECHANISM = 'scram-sha-512'

/** The broker side: its keystore and truststore (one password). */
export interface BrokerTls {
  keystoreFile: string
  truststoreFile: string
  storePassword: string
}

/** What a client needs to connect to the secured broker. */
export interface SecureClientFiles {
  /** PEM file of the CA that signed the broker's certificate. */
  caFile: string
  username: string
  /** File holding the password (one line, mode 0600). */
  passwordFile: string
  /** KAFKA_* variables for a shell (`set -a; . <file>; set +a`), the password by file. */
  envFile: string
}

export interface SecuritySetup extends SecureClientFiles {
  tls: BrokerTls
  password: string
}

const secret = () => randomBytes(24).toString('base64url')

function writeSecret(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 })
  chmodSync(file, 0o600) // an existing file keeps its mode on write
}

/** keytool of the JDK that runs the broker: $JAVA_HOME/bin/keytool, else the one on the PATH. */
export function keytoolCommand(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.JAVA_HOME
  if (home) {
    const k = join(home, 'bin', 'keytool')
    if (existsSync(k)) return k
  }
  return 'keytool'
}

async function keytool(args: string[], storePassword: string, cwd: string): Promise<void> {
  const cmd = keytoolCommand()
  const r = await run(cmd, args, {
    cwd,
    timeoutMs: 60_000,
    env: { ...process.env, KD_STORE_PASSWORD: storePassword },
  })
  if (r.spawnError)
    throw new Error(
      `devkafka: ${cmd} could not be started (${r.spawnError.code ?? r.spawnError.message}): the secured broker makes ` +
        "its certificates with the JDK's keytool; install a JDK or JRE 17+ (e.g. openjdk-17-jre-headless, which has " +
        'keytool) or set JAVA_HOME',
    )
  if (r.code !== 0)
    throw new Error(
      `devkafka: keytool ${args[0]} failed (exit ${r.code ?? r.signal}):\n${tailLines(r.output, 20)}`,
    )
}

const SAN = 'SAN=IP:127.0.0.1,DNS:localhost'
const VALIDITY_DAYS = '3650'

/** A CA and a broker certificate signed by it, in PKCS12 stores under `tlsDir`; the CA also as PEM. */
export async function generateBrokerTls(tlsDir: string, storePassword: string): Promise<void> {
  mkdirSync(tlsDir, { recursive: true })
  for (const f of ['ca.p12', 'broker.p12', 'trust.p12', 'broker.csr', 'broker.crt', 'chain.pem', 'ca.pem'])
    rmSync(join(tlsDir, f), { force: true })
  const kt = (args: string[]) => keytool(args, storePassword, tlsDir)
  const store = (file: string) => [
    '-keystore',
    file,
    '-storetype',
    'PKCS12',
    '-storepass:env',
    'KD_STORE_PASSWORD',
  ]
  const keyPair = (alias: string, dname: string, ext: string[], file: string) =>
    kt([
      '-genkeypair',
      ...['-alias', alias, '-keyalg', 'EC', '-groupname', 'secp256r1', '-dname', dname],
      ...['-validity', VALIDITY_DAYS, ...ext, ...store(file), '-keypass:env', 'KD_STORE_PASSWORD'],
    ])
  // Both key pairs at once (each keytool run is a JVM start): the CA, self-signed with basicConstraints CA:true,
  // exported as PEM; the broker's, with a signing request.
  await Promise.all([
    (async () => {
      await keyPair('ca', 'CN=kafka-decider dev CA', ['-ext', 'bc:c'], 'ca.p12')
      await kt(['-exportcert', '-rfc', '-alias', 'ca', ...store('ca.p12'), '-file', 'ca.pem'])
      await kt(['-importcert', '-noprompt', '-alias', 'ca', '-file', 'ca.pem', ...store('trust.p12')])
    })(),
    (async () => {
      await keyPair('broker', 'CN=localhost', ['-ext', SAN], 'broker.p12')
      await kt(['-certreq', '-alias', 'broker', ...store('broker.p12'), '-file', 'broker.csr'])
    })(),
  ])
  // The CA signs it, with the names clients connect by.
  await kt([
    '-gencert',
    ...['-alias', 'ca', ...store('ca.p12'), '-infile', 'broker.csr', '-outfile', 'broker.crt', '-rfc'],
    ...[
      '-validity',
      VALIDITY_DAYS,
      '-ext',
      SAN,
      '-ext',
      'KU=digitalSignature,keyEncipherment',
      '-ext',
      'EKU=serverAuth',
    ],
  ])
  // The reply with its whole chain (the certificate, then the CA's) replaces the broker's self-signed certificate.
  writeFileSync(
    join(tlsDir, 'chain.pem'),
    readFileSync(join(tlsDir, 'broker.crt'), 'utf8') + readFileSync(join(tlsDir, 'ca.pem'), 'utf8'),
  )
  await kt(['-importcert', '-noprompt', '-alias', 'broker', '-file', 'chain.pem', ...store('broker.p12')])
  for (const f of ['broker.csr', 'broker.crt', 'chain.pem']) rmSync(join(tlsDir, f), { force: true })
  for (const f of ['ca.p12', 'broker.p12', 'trust.p12']) chmodSync(join(tlsDir, f), 0o600)
}

/**
 * Signs a client's certificate signing request (PEM, e.g. from `openssl req -new`) with the dev broker's CA, for
 * mutual TLS: `tlsDir` is the broker's `tls/`. Writes the certificate (PEM) to `certFile`.
 */
export async function signClientCertificate(
  tlsDir: string,
  csrFile: string,
  certFile: string,
): Promise<void> {
  const storePassword = readFileSync(join(tlsDir, 'store.password'), 'utf8').trim()
  await keytool(
    [
      '-gencert',
      ...[
        '-alias',
        'ca',
        '-keystore',
        'ca.p12',
        '-storetype',
        'PKCS12',
        '-storepass:env',
        'KD_STORE_PASSWORD',
      ],
      ...['-infile', csrFile, '-outfile', certFile, '-rfc', '-validity', '30'],
      ...['-ext', 'KU=digitalSignature', '-ext', 'EKU=clientAuth'],
    ],
    storePassword,
    tlsDir,
  )
}

/**
 * The secured broker's material under `dir`: reused when a previous start made it (a daemon restart keeps its CA and
 * user; the user exists in the formatted metadata log), made otherwise.
 */
export async function prepareSecurity(dir: string, log?: (msg: string) => void): Promise<SecuritySetup> {
  const tlsDir = join(dir, 'tls')
  const clientDir = join(dir, 'client')
  const storePasswordFile = join(tlsDir, 'store.password')
  const passwordFile = join(clientDir, 'password')
  const files: SecureClientFiles = {
    caFile: join(tlsDir, 'ca.pem'),
    username: DEV_SCRAM_USER,
    passwordFile,
    envFile: join(dir, 'client.env'),
  }
  const keystoreFile = join(tlsDir, 'broker.p12')
  const truststoreFile = join(tlsDir, 'trust.p12')
  mkdirSync(tlsDir, { recursive: true, mode: 0o700 })
  mkdirSync(clientDir, { recursive: true, mode: 0o700 })
  // The user's password is kept once made: the formatted metadata log holds its SCRAM credential.
  if (!existsSync(passwordFile)) writeSecret(passwordFile, secret() + '\n')
  const password = readFileSync(passwordFile, 'utf8').trim()
  let storePassword: string
  if ([storePasswordFile, keystoreFile, truststoreFile, files.caFile].every((f) => existsSync(f))) {
    storePassword = readFileSync(storePasswordFile, 'utf8').trim()
  } else {
    log?.('devkafka: making a CA and the broker certificate (keytool)...')
    storePassword = secret()
    await generateBrokerTls(tlsDir, storePassword)
    writeSecret(storePasswordFile, storePassword + '\n')
  }
  return { ...files, tls: { keystoreFile, truststoreFile, storePassword }, password }
}

/** `--add-scram` of kafka-storage format: the user, created in the metadata log when the node is formatted. */
export function scramFormatArgs(setup: Pick<SecuritySetup, 'username' | 'password'>): string[] {
  return ['--add-scram', `SCRAM-SHA-512=[name=${setup.username},password=${setup.password}]`]
}

const shellValue = (v: string) => (/^[\w@%+=:,./-]+$/.test(v) ? v : `'${v.replaceAll("'", `'\\''`)}'`)

/** The KAFKA_* variables a worker or the CLI connects with (the password by file). */
export function clientEnv(bootstrap: string, files: SecureClientFiles): Record<string, string> {
  return {
    KAFKA_BROKERS: bootstrap,
    KAFKA_SSL_CA_FILE: files.caFile,
    KAFKA_SASL_MECHANISM: DEV_SCRAM_MECHANISM,
    KAFKA_SASL_USERNAME: files.username,
    KAFKA_SASL_PASSWORD_FILE: files.passwordFile,
  }
}

/** Writes client.env (rewritten at every start: the port may change). */
export function writeClientEnv(bootstrap: string, files: SecureClientFiles): void {
  const lines = Object.entries(clientEnv(bootstrap, files)).map(([k, v]) => `${k}=${shellValue(v)}`)
  writeFileSync(
    files.envFile,
    '# kafka-decider dev broker (SASL_SSL, SCRAM-SHA-512). In a shell: set -a; . ' +
      `${shellValue(files.envFile)}; set +a\n${lines.join('\n')}\n`,
    { mode: 0o600 },
  )
}

/** kafkajs options that reach the secured broker (the probe of waitForCluster and daemonStatus). */
export function probeSecurity(files: SecureClientFiles, password?: string): ClientSecurity {
  return {
    ssl: { ca: [readFileSync(files.caFile, 'utf8')] },
    sasl: {
      mechanism: DEV_SCRAM_MECHANISM,
      username: files.username,
      password: password ?? readFileSync(files.passwordFile, 'utf8').trim(),
    },
  }
}
