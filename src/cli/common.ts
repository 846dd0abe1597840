/** What the CLI commands share: config, a quiet Kafka client, usage errors, progress bars. */
import { existsSync } from 'node:fs'
import cliProgress from 'cli-progress'
import type { Admin, Kafka } from 'kafkajs'
import pino from 'pino'
import { loadWorkerConfig, type WorkerConfig } from '../config/worker-config.ts'
import { UsageError } from '../errors.ts'
import { createKafka } from '../kafka/client.ts'

export const DEFAULT_CONFIG = 'config/worker.yaml'
export const quietLogger = pino({ level: 'silent' })

/** The worker config the CLI uses: --config, else config/worker.yaml when present (as `run`), else defaults + env. */
export function cliConfig(file: string | undefined): Promise<WorkerConfig> {
  return loadWorkerConfig(file ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined))
}

export function cliKafka(config: WorkerConfig): Kafka {
  return createKafka(config.kafka, `${config.kafka.clientId}-cli`, quietLogger)
}

export async function withAdmin<T>(kafka: Kafka, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    return await fn(admin)
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
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
