/**
 * Vitest globalSetup of the 'int' project: makes a real Apache Kafka broker available to integration tests.
 * - KAFKA_BROKERS set (e.g. `npm run kafka:start` or docker compose): use it as is.
 * - Otherwise: resolve the jars (cached in .cache/kafka) and start a single-node broker on free ports in a temp dir;
 *   the teardown stops it and removes the dir.
 * The address reaches test files both ways: `process.env.KAFKA_BROKERS` (set here in the main process before the
 * workers are forked, so they inherit it — verified with vitest 4) and `inject('kafkaBrokers')`.
 */
import type { TestProject } from 'vitest/node'
import { ensureKafkaJars, startKafka, type KafkaHandle } from '../../src/devkafka/index.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string
  }
}

let kafka: KafkaHandle | undefined

export async function setup(project: TestProject): Promise<void> {
  let brokers = process.env.KAFKA_BROKERS?.trim()
  if (!brokers) {
    const jars = await ensureKafkaJars({ log: (m) => console.log(m) })
    kafka = await startKafka({ jars })
    brokers = kafka.bootstrap
    process.env.KAFKA_BROKERS = brokers
    console.log(`[kafka.global] Apache Kafka ${jars.version} at ${brokers} (log: ${kafka.logFile})`)
  }
  project.provide('kafkaBrokers', brokers)
}

export async function teardown(): Promise<void> {
  if (!kafka) return
  const k = kafka
  kafka = undefined
  delete process.env.KAFKA_BROKERS
  await k.stop() // SIGTERM, bounded wait, SIGKILL; removes the temp dir
}
