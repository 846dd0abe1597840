/**
 * Worker configuration: the environment a topology runs in (brokers, credentials, state dir, HTTP bind,
 * logging). Read from a YAML file (config/worker.yaml by default) and overridden by environment variables:
 *   KAFKA_* (brokers, client id, TLS files, SASL: see ./kafka-config.ts),
 *   DECIDER_STATE_DIR, DECIDER_HTTP_HOST, DECIDER_HTTP_PORT,
 *   DECIDER_LOG_LEVEL, DECIDER_LOG_FORMAT, DECIDER_SHUTDOWN_TIMEOUT_MS, DECIDER_CREATE_TOPICS, DECIDER_SESSION_TIMEOUT_MS,
 *   DECIDER_HTTP_ADVERTISED_URL, DECIDER_HTTP_COMMANDS, DECIDER_HTTP_SQL, DECIDER_HTTP_TOKENS,
 *   DECIDER_HTTP_TOKENS_FILE, DECIDER_HTTP_ALLOW_UNAUTHENTICATED
 * Secrets belong in the environment or in files the config names, never in the file: a Kafka password or
 * http.auth.tokens there is refused.
 */
import { readFile } from 'node:fs/promises'
import { parse } from 'yaml'
import { z } from 'zod'
import { ConfigError } from '../errors.ts'
import {
  checkUnique,
  parseTokens,
  PERMISSIONS,
  readTokensFile,
  tokenCredentialSchema,
} from './http-credentials.ts'
import { kafkaFileSchema, resolveKafkaConfig, type KafkaClientConfig } from './kafka-config.ts'

const LOG_LEVELS = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
/** auto: human-readable on a terminal, JSON lines otherwise (a file, a pipe, a container's log). */
const LOG_FORMATS = z.enum(['auto', 'json', 'pretty'])

export const workerConfigSchema = z
  .object({
    kafka: kafkaFileSchema,
    consumer: z
      .object({
        sessionTimeoutMs: z.number().int().min(1000).default(30_000),
        heartbeatIntervalMs: z.number().int().min(100).default(3000),
        rebalanceTimeoutMs: z.number().int().min(1000).default(60_000),
      })
      .strict()
      .prefault({}),
    stateDir: z.string().min(1).default('.state'),
    topics: z
      .object({
        create: z.boolean().default(true),
        replicationFactor: z.number().int().min(1).optional(),
      })
      .strict()
      .prefault({}),
    http: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(9464),
        enabled: z.boolean().default(true),
        /**
         * The URL other workers forward reads to (announced in the consumer group); `{ip}` and `{hostname}` are
         * replaced by the machine's. Default: http://host:port when host is a concrete address; a wildcard bind
         * (0.0.0.0, ::) needs it set, else no read is forwarded to this worker.
         */
        advertisedUrl: z
          .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as http://10.0.0.7:9464' })
          .optional(),
        /** POST /commands/<topology> (needs the `write` permission when http.auth is on). */
        commands: z.boolean().default(true),
        /** Bound on a read forwarded to the owning worker (until its response headers). */
        forwardTimeoutMs: z.number().int().positive().default(5000),
        /**
         * POST /sql: a read-only SQL query over this worker's topologies' events and snapshots, loaded from Kafka
         * per query. Off by default: each query reads whole topics into the worker's memory.
         */
        sql: z.boolean().default(false),
        /** Bound on one POST /sql: reading the topics and running the query. */
        sqlTimeoutMs: z.number().int().positive().default(10_000),
        /** Rows a POST /sql answer holds at most (the rest is cut: `truncated: true`). */
        sqlMaxRows: z.number().int().positive().default(10_000),
        /**
         * Who may use the API (src/http/auth.ts): bearer tokens (DECIDER_HTTP_TOKENS and/or tokensFile; never in
         * this file) and/or client certificates (tls.requestClientCert + clientCerts). Without either, every
         * request is served, which a non-loopback bind refuses unless allowUnauthenticated is true.
         */
        auth: z
          .object({
            /** A file of tokens (src/config/http-credentials.ts has the format); DECIDER_HTTP_TOKENS_FILE. */
            tokensFile: z.string().min(1).optional(),
            /** Client certificates (by subject CN or a SAN entry) and their permissions. */
            clientCerts: z
              .array(
                z
                  .object({
                    subject: z.string().regex(/^(CN=|DNS:|URI:|email:|IP Address:).+/, {
                      error: "must be 'CN=<common name>' or a SAN entry such as 'DNS:<name>' or 'URI:<uri>'",
                    }),
                    permissions: z.array(z.enum(PERMISSIONS)).min(1),
                  })
                  .strict(),
              )
              .default([]),
            /** /livez and /readyz need a credential too (default open: probes do not authenticate). */
            protectHealth: z.boolean().default(false),
            /** /metrics needs a credential too (default open: Prometheus scrapes a private port). */
            protectMetrics: z.boolean().default(false),
            /** Resolved from DECIDER_HTTP_TOKENS and tokensFile (digests only); refused in the file. */
            tokens: z.array(tokenCredentialSchema).default([]),
          })
          .strict()
          .prefault({}),
        /** Serve the API without any credential on a non-loopback bind (a private network, a proxy in front). */
        allowUnauthenticated: z.boolean().default(false),
        /**
         * HTTPS (files in PEM). With ca and requestClientCert, clients may present certificates signed by ca
         * (http.auth.clientCerts gives them permissions); the worker presents its own cert to other workers.
         */
        tls: z
          .object({
            cert: z.string().min(1),
            key: z.string().min(1),
            ca: z.string().min(1).optional(),
            requestClientCert: z.boolean().default(false),
          })
          .strict()
          .optional(),
        /** Largest request body taken (413 beyond; POST /sql takes at most 64 KiB of it). */
        maxBodyBytes: z
          .number()
          .int()
          .min(1024)
          .default(1024 * 1024),
        /** Longest request target (path and query) taken (414 beyond). */
        maxUrlBytes: z.number().int().min(256).max(16_000).default(8192),
        /** Requests in progress at most, health probes aside (429 beyond). */
        maxConcurrent: z.number().int().min(1).default(256),
        /** Bound on receiving a request's headers (408). */
        headersTimeoutMs: z.number().int().min(100).default(10_000),
        /** Bound on receiving a whole request, body included (408); not on the answer. */
        requestTimeoutMs: z.number().int().min(100).default(30_000),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: LOG_LEVELS.default('info'),
        format: LOG_FORMATS.default('auto'),
      })
      .strict()
      .prefault({}),
    shutdownTimeoutMs: z.number().int().positive().default(30_000),
  })
  .strict()

/** The config as the file writes it (before the environment and the secrets it names are applied). */
export type WorkerConfigFile = z.infer<typeof workerConfigSchema>
/** The resolved config: the file, the environment, the named secret files read (the password a Secret). */
export type WorkerConfig = Omit<WorkerConfigFile, 'kafka'> & { kafka: KafkaClientConfig }
export type { KafkaClientConfig }
export type LogConfig = WorkerConfig['log']

/**
 * `serve: false` (the CLI: it reads the config for brokers and the state dir, and serves no HTTP) skips what only a
 * worker serving the API needs: reading http.auth.tokensFile and refusing an unauthenticated non-loopback bind.
 */
export interface ResolveOptions {
  serve?: boolean
}

export async function loadWorkerConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  o: ResolveOptions = {},
): Promise<WorkerConfig> {
  let raw: unknown = {}
  if (file !== undefined) {
    try {
      raw = parse(await readFile(file, 'utf8')) ?? {}
    } catch (e) {
      throw new ConfigError(`${file}: cannot read the worker config: ${(e as Error).message}`)
    }
  }
  return resolveWorkerConfig(raw, env, file ?? '<defaults>', o)
}

export function resolveWorkerConfig(
  raw: unknown,
  env: NodeJS.ProcessEnv,
  source = '<config>',
  o: ResolveOptions = {},
): WorkerConfig {
  const serve = o.serve ?? true
  const rawAuth = (raw as { http?: { auth?: Record<string, unknown> } } | null)?.http?.auth
  for (const key of ['tokens', 'token'])
    if (rawAuth !== null && typeof rawAuth === 'object' && key in rawAuth)
      throw new ConfigError(
        `${source}: http.auth.${key}: tokens are secrets and are never read from the config file; put them in DECIDER_HTTP_TOKENS or in a file named by http.auth.tokensFile (README "Security")`,
      )
  const base = workerConfigSchema.safeParse(raw)
  if (!base.success) {
    throw new ConfigError(
      `${source}: invalid worker config:\n` +
        base.error.issues
          .map((i) => `  ${i.path.map(String).join('.') || '(top level)'}: ${i.message}`)
          .join('\n'),
    )
  }
  const c: WorkerConfig = { ...base.data, kafka: resolveKafkaConfig(base.data.kafka, env) }
  if (env.DECIDER_SESSION_TIMEOUT_MS) {
    c.consumer.sessionTimeoutMs = intEnv(env, 'DECIDER_SESSION_TIMEOUT_MS', 1000)
    c.consumer.heartbeatIntervalMs = Math.min(
      c.consumer.heartbeatIntervalMs,
      Math.floor(c.consumer.sessionTimeoutMs / 3),
    )
  }
  if (env.DECIDER_STATE_DIR) c.stateDir = env.DECIDER_STATE_DIR
  if (env.DECIDER_HTTP_HOST) c.http.host = env.DECIDER_HTTP_HOST
  if (env.DECIDER_HTTP_PORT) c.http.port = intEnv(env, 'DECIDER_HTTP_PORT', 0, 65535)
  if (env.DECIDER_HTTP_ADVERTISED_URL) {
    const url = workerConfigSchema.shape.http
      .unwrap()
      .shape.advertisedUrl.safeParse(env.DECIDER_HTTP_ADVERTISED_URL)
    if (!url.success)
      throw new ConfigError(
        `DECIDER_HTTP_ADVERTISED_URL=${env.DECIDER_HTTP_ADVERTISED_URL} is not an http(s) URL; use e.g. http://10.0.0.7:9464`,
      )
    c.http.advertisedUrl = url.data
  }
  if (env.DECIDER_HTTP_COMMANDS) {
    if (env.DECIDER_HTTP_COMMANDS !== 'true' && env.DECIDER_HTTP_COMMANDS !== 'false')
      throw new ConfigError(`DECIDER_HTTP_COMMANDS=${env.DECIDER_HTTP_COMMANDS}: use true or false`)
    c.http.commands = env.DECIDER_HTTP_COMMANDS === 'true'
  }
  if (env.DECIDER_HTTP_SQL) {
    if (env.DECIDER_HTTP_SQL !== 'true' && env.DECIDER_HTTP_SQL !== 'false')
      throw new ConfigError(`DECIDER_HTTP_SQL=${env.DECIDER_HTTP_SQL}: use true or false`)
    c.http.sql = env.DECIDER_HTTP_SQL === 'true'
  }
  if (env.DECIDER_HTTP_ALLOW_UNAUTHENTICATED) {
    if (
      env.DECIDER_HTTP_ALLOW_UNAUTHENTICATED !== 'true' &&
      env.DECIDER_HTTP_ALLOW_UNAUTHENTICATED !== 'false'
    )
      throw new ConfigError(
        `DECIDER_HTTP_ALLOW_UNAUTHENTICATED=${env.DECIDER_HTTP_ALLOW_UNAUTHENTICATED}: use true or false`,
      )
    c.http.allowUnauthenticated = env.DECIDER_HTTP_ALLOW_UNAUTHENTICATED === 'true'
  }
  if (env.DECIDER_HTTP_TOKENS_FILE) c.http.auth.tokensFile = env.DECIDER_HTTP_TOKENS_FILE
  c.http.auth.tokens = [
    ...(env.DECIDER_HTTP_TOKENS ? parseTokens(env.DECIDER_HTTP_TOKENS, 'DECIDER_HTTP_TOKENS') : []),
    ...(c.http.auth.tokensFile !== undefined && serve
      ? readTokensFile(c.http.auth.tokensFile, 'http.auth.tokensFile')
      : []),
  ]
  checkUnique(c.http.auth.tokens)
  if (env.DECIDER_LOG_LEVEL) {
    const level = LOG_LEVELS.safeParse(env.DECIDER_LOG_LEVEL)
    if (!level.success)
      throw new ConfigError(
        `DECIDER_LOG_LEVEL=${env.DECIDER_LOG_LEVEL} is not a log level; use one of ${LOG_LEVELS.options.join(', ')}`,
      )
    c.log.level = level.data
  }
  if (env.DECIDER_LOG_FORMAT) {
    const format = LOG_FORMATS.safeParse(env.DECIDER_LOG_FORMAT)
    if (!format.success)
      throw new ConfigError(
        `DECIDER_LOG_FORMAT=${env.DECIDER_LOG_FORMAT} is not a log format; use one of ${LOG_FORMATS.options.join(', ')}`,
      )
    c.log.format = format.data
  }
  if (env.DECIDER_SHUTDOWN_TIMEOUT_MS) c.shutdownTimeoutMs = intEnv(env, 'DECIDER_SHUTDOWN_TIMEOUT_MS', 1)
  if (env.DECIDER_CREATE_TOPICS) c.topics.create = env.DECIDER_CREATE_TOPICS === 'true'
  checkHttpSecurity(c.http, serve)
  return c
}

/** Whether `host` is a loopback address (127.0.0.0/8, ::1, localhost): only this machine reaches it. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase()
  return (
    h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || /^::ffff:127(\.\d{1,3}){3}$/.test(h)
  )
}

/** Whether the HTTP API asks for credentials: tokens, or client certificates mapped to permissions. */
export function httpAuthEnabled(http: WorkerConfig['http']): boolean {
  return http.auth.tokens.length > 0 || http.auth.clientCerts.length > 0
}

/** The combinations of http.* that cannot work, or that would serve the API to anyone by accident. */
function checkHttpSecurity(http: WorkerConfig['http'], serve: boolean): void {
  // The CLI does not read the tokens file: a file named counts as credentials there.
  const auth = httpAuthEnabled(http) || (!serve && http.auth.tokensFile !== undefined)
  if (http.auth.clientCerts.length > 0 && http.tls?.requestClientCert !== true)
    throw new ConfigError(
      'http.auth.clientCerts: client certificates need http.tls with ca and requestClientCert: true',
    )
  if (http.tls?.requestClientCert === true && http.tls.ca === undefined)
    throw new ConfigError(
      'http.tls.requestClientCert: give http.tls.ca, the CA that signs the client certificates',
    )
  for (const key of ['protectHealth', 'protectMetrics'] as const)
    if (http.auth[key] && !auth)
      throw new ConfigError(
        `http.auth.${key}: there are no credentials to ask for; set tokens (DECIDER_HTTP_TOKENS or http.auth.tokensFile) or client certificates (http.auth.clientCerts)`,
      )
  if (http.tls !== undefined && http.advertisedUrl?.startsWith('http:'))
    throw new ConfigError(
      `http.advertisedUrl ${http.advertisedUrl}: the worker serves HTTPS (http.tls): announce an https:// URL`,
    )
  if (http.requestTimeoutMs < http.headersTimeoutMs)
    throw new ConfigError(
      `http.requestTimeoutMs (${http.requestTimeoutMs}) must be at least http.headersTimeoutMs (${http.headersTimeoutMs})`,
    )
  if (serve && http.enabled && !auth && !http.allowUnauthenticated && !isLoopbackHost(http.host))
    throw new ConfigError(
      `http.host is ${http.host || '(all interfaces)'}, not a loopback address, and the HTTP API has no authentication: ` +
        'set tokens (DECIDER_HTTP_TOKENS or http.auth.tokensFile) or client certificates (http.tls + http.auth.clientCerts), ' +
        'or set http.allowUnauthenticated: true (DECIDER_HTTP_ALLOW_UNAUTHENTICATED=true) to serve it to whoever reaches the port (README "Security")',
    )
}

function intEnv(env: NodeJS.ProcessEnv, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(env[name])
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(`${name}=${env[name]} must be an integer in ${min}..${max}`)
  return n
}
