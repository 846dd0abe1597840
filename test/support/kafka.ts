/** Helpers shared by the integration tests (*.int.test.ts) that talk to the real broker. */
import { randomBytes } from 'node:crypto'
import { inject } from 'vitest'
import { Kafka, logLevel, type Admin, type ITopicConfig, type KafkaConfig } from 'kafkajs'

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
    throw new Error(
      'No Kafka broker: KAFKA_BROKERS is not set (run integration tests through the vitest "int" project)',
    )
  }
  return brokers
}

/** kafkajs log level of test clients: silent unless KAFKAJS_LOG_LEVEL=error|warn|info|debug is set. */
function testLogLevel(): logLevel {
  switch ((process.env.KAFKAJS_LOG_LEVEL ?? '').toLowerCase()) {
    case 'error':
      return logLevel.ERROR
    case 'warn':
      return logLevel.WARN
    case 'info':
      return logLevel.INFO
    case 'debug':
      return logLevel.DEBUG
    default:
      // kafkajs logs expected protocol errors (e.g. TOPIC_ALREADY_EXISTS, CONCURRENT_TRANSACTIONS) at ERROR level.
      return logLevel.NOTHING
  }
}

/** A kafkajs client for the test broker: quiet logs, modest retries (failures should surface fast in tests). */
export function newKafka(clientId: string, overrides: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId,
    brokers: kafkaBrokers(),
    logLevel: testLogLevel(),
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

export interface Received {
  topic: string
  partition: number
  offset: string
  key: string | null
  value: string | null
}

export interface ConsumeUntilOptions {
  topics: string[]
  /** Default: a unique group. */
  groupId?: string
  /** kafkajs default is read_committed (false); true = read_uncommitted. */
  readUncommitted?: boolean
  /** Stop once this holds for the records received so far. */
  until: (received: Received[]) => boolean
  /** Bound on the whole wait (default 30 s); on timeout the error lists what was received. */
  timeoutMs?: number
  /** Keep consuming this long after `until` held, to catch duplicates or unexpected extra records (default 0). */
  settleMs?: number
}

/** Consumes the topics from the beginning with a fresh consumer until `until` holds (bounded), then disconnects. */
export async function consumeUntil(kafka: Kafka, opts: ConsumeUntilOptions): Promise<Received[]> {
  const received: Received[] = []
  const consumer = kafka.consumer({
    groupId: opts.groupId ?? uniqueName('g'),
    readUncommitted: opts.readUncommitted ?? false,
    maxWaitTimeInMs: 200,
    retry: { initialRetryTime: 50, retries: 8 },
  })
  let done!: () => void
  const satisfied = new Promise<void>((r) => (done = r))
  const timeoutMs = opts.timeoutMs ?? 30_000
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `consumeUntil: condition not met within ${timeoutMs} ms; received ${received.length}: ` +
              JSON.stringify(
                received.slice(0, 20).map((r) => [r.topic, r.partition, r.offset, r.key, r.value]),
              ),
          ),
        ),
      timeoutMs,
    )
  })
  try {
    await consumer.connect()
    await consumer.subscribe({ topics: opts.topics, fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        received.push({
          topic,
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? null,
          value: message.value?.toString() ?? null,
        })
        if (opts.until(received)) done()
      },
    })
    await Promise.race([satisfied, timedOut])
    if (opts.settleMs) await new Promise((r) => setTimeout(r, opts.settleMs))
    return [...received]
  } finally {
    clearTimeout(timer)
    await consumer.disconnect().catch(() => undefined)
  }
}

/** Polls `fn` until it returns a value accepted by `ok` (bounded); returns the last value either way. */
export async function pollUntil<T>(
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let v = await fn()
  while (!ok(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200))
    v = await fn()
  }
  return v
}

/**
 * Creates topics and waits (bounded) until every partition has a leader in the metadata.
 *
 * Not `createTopics({ waitForLeaders: true })`: against a KRaft broker the metadata request kafkajs 2.2.4 sends right
 * after CreateTopics can fail with UNKNOWN_TOPIC_OR_PARTITION (the broker has not applied the controller's record
 * yet), and kafkajs only retries LEADER_NOT_AVAILABLE there — observed flaking with Apache Kafka 4.3.1.
 */
export async function createTopics(
  admin: Admin,
  topics: ITopicConfig[],
  timeoutMs = 30_000,
): Promise<boolean> {
  const created = await admin.createTopics({ topics, waitForLeaders: false })
  const names = topics.map((t) => t.topic)
  const ready = await pollUntil(
    async () => {
      try {
        const meta = await admin.fetchTopicMetadata({ topics: names })
        return (
          meta.topics.length === names.length &&
          meta.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))
        )
      } catch {
        return false // UNKNOWN_TOPIC_OR_PARTITION / LEADER_NOT_AVAILABLE while the metadata propagates
      }
    },
    (ok) => ok,
    timeoutMs,
  )
  if (!ready) throw new Error(`topics ${names.join(', ')} have no leaders after ${timeoutMs} ms`)
  return created
}
