/** Helpers shared by the integration tests (*.int.test.ts) that talk to the real broker. */
import { randomBytes } from 'node:crypto'
import { inject } from 'vitest'
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs'

/** Bootstrap addresses of the test broker (from test/setup/kafka.global.ts or the environment). */
export function kafkaBrokers(): string[] {
  let raw = process.env.KAFKA_BROKERS
  if (!raw) {
    try {
      raw = inject('kafkaBrokers')
    } catch {
      raw = undefined
    }
  }
  const brokers = (raw ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '')
  if (brokers.length === 0) {
    throw new Error('No Kafka broker: KAFKA_BROKERS is not set (run integration tests through the vitest "int" project)')
  }
  return brokers
}

/** A kafkajs client for the test broker: quiet logs, modest retries (failures should surface fast in tests). */
export function newKafka(clientId: string, overrides: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId,
    brokers: kafkaBrokers(),
    logLevel: logLevel.ERROR,
    connectionTimeout: 3000,
    requestTimeout: 15_000,
    retry: { initialRetryTime: 50, maxRetryTime: 1000, retries: 8 },
    ...overrides,
  })
}

/** A topic/group/transactional-id name no other test (or earlier run against the same broker) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
}
