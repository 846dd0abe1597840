/**
 * Worker configuration: the environment a topology runs in (brokers, credentials, state dir, HTTP bind,
 * logging). Read from a YAML file (config/worker.yaml by default) and overridden by environment variables:
 *   KAFKA_* (brokers, client id, TLS files, SASL: see ./kafka-config.ts),
 *   DECIDER_STATE_DIR, DECIDER_HTTP_HOST, DECIDER_HTTP_PORT,
 *   DECIDER_LOG_LEVEL, DECIDER_LOG_FORMAT, DECIDER_SHUTDOWN_TIMEOUT_MS, DECIDER_CREATE_TOPICS, DECIDER_SESSION_TIMEOUT_MS,
 *   DECIDER_HTTP_ADVERTISED_URL, DECIDER_HTTP_COMMANDS, DECIDER_HTTP_SQL
 * Secrets belong in the environment or in files the config names, never in the file (a Kafka password there is refused).
 */
import { readFile } from 'node:fs/promises'
import { parse } from 'yaml'
import { z } from 'zod'
import { ConfigError } from '../errors.ts'
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
        /** POST /commands/<topology>. No authentication: keep the port private (README, Limitations). */
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

export async function loadWorkerConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<WorkerConfig> {
  let raw: unknown = {}
  if (file !== undefined) {
    try {
      raw = parse(await readFile(file, 'utf8')) ?? {}
    } catch (e) {
      throw new ConfigError(`${file}: cannot read the worker config: ${(e as Error).message}`)
    }
  }
  return resolveWorkerConfig(raw, env, file ?? '<defaults>')
}

export function resolveWorkerConfig(raw: unknown, env: NodeJS.ProcessEnv, source = '<config>'): WorkerConfig {
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
  return c
}

function intEnv(env: NodeJS.ProcessEnv, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(env[name])
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(`${name}=${env[name]} must be an integer in ${min}..${max}`)
  return n
}
