/** What the CLI commands share: config, a quiet Kafka connection and its adapters, usage errors, progress bars. */
import { existsSync } from 'node:fs'
import cliProgress from 'cli-progress'
import pino from 'pino'
import { loadWorkerConfig, type WorkerConfig } from '../config/worker-config.ts'
import { UsageError } from '../errors.ts'
import { withClusterAdmin } from '../kafka/admin.ts'
import { createKafka, type KafkaConnection } from '../kafka/client.ts'
import { KafkaTopicReader } from '../kafka/topic-reader.ts'
import type { ClusterAdmin, TopicReader } from './ports.ts'

export const DEFAULT_CONFIG = 'config/worker.yaml'
export const quietLogger = pino({ level: 'silent' })

/** The worker config the CLI uses: --config, else config/worker.yaml when present (as `run`), else defaults + env. */
export function cliConfig(file: string | undefined): Promise<WorkerConfig> {
  // The CLI serves no HTTP: it neither reads http.auth.tokensFile nor refuses the worker's bind.
  return loadWorkerConfig(file ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined), process.env, {
    serve: false,
  })
}

export function cliKafka(config: WorkerConfig): KafkaConnection {
  return createKafka(config.kafka, `${config.kafka.clientId}-cli`, quietLogger)
}

/** Runs `fn` with a connected admin, disconnected afterwards. */
export function withAdmin<T>(kafka: KafkaConnection, fn: (admin: ClusterAdmin) => Promise<T>): Promise<T> {
  return withClusterAdmin(kafka, fn)
}

/** Reads whole partitions of topics, read_committed, without joining any group. */
export function topicReader(kafka: KafkaConnection): TopicReader {
  return new KafkaTopicReader(kafka)
}

/** A progress bar on stderr (drawn only on a terminal, so pipes and tests get clean output). */
export function progressBar(label: string, total: number): cliProgress.SingleBar {
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total} | {duration_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  )
  bar.start(total, 0)
  return bar
}

export function parseNonNegativeInt(value: string, option: string): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`${option} must be a non-negative integer, got "${value}"`)
  return Number(value)
}
