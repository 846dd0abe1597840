import { describe, expect, it } from 'vitest'
import { Partitioners, type Kafka, type Producer } from 'kafkajs'
import { isFencingError } from '../../src/kafka/errors.ts'
import { createTopics, consumeUntil, newKafka, uniqueName } from '../support/kafka.ts'

// Proves zombie fencing with kafkajs 2.2.4 against the real broker: when a second producer initialises the same
// transactionalId (a new worker taking over a partition), the first one's open transaction is aborted and its
// commit fails with a fencing error, so a zombie can never commit.

function transactionalProducer(kafka: Kafka, transactionalId: string): Producer {
  return kafka.producer({
    transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: { initialRetryTime: 20, maxRetryTime: 500, retries: 15 },
  })
}

/**
 * What kafkajs 2.2.4 reports for a fenced producer. Observed with Apache Kafka 4.3.1: INVALID_PRODUCER_EPOCH (code 47),
 * thrown directly as KafkaJSProtocolError by commit(). kafkajs speaks EndTxn v0/v1, for which the broker reports
 * fencing as INVALID_PRODUCER_EPOCH; PRODUCER_FENCED (code 90, newer versions) is not even in kafkajs's error table —
 * it would surface as type KAFKAJS_UNKNOWN_ERROR_CODE. A core treating both as "fenced" is safe either way.
 */
const FENCING_ERRORS = ['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'KAFKAJS_UNKNOWN_ERROR_CODE']

function errorType(err: unknown): string | undefined {
  // kafkajs throws KafkaJSProtocolError { type } directly, or wraps it (KafkaJSNonRetriableError { cause }).
  let e = err as { type?: string; cause?: unknown; name?: string } | undefined
  for (let i = 0; i < 5 && e; i++) {
    if (e.type) return e.type
    e = e.cause as typeof e
  }
  return undefined
}

describe('transactional fencing', () => {
  it('fences producer A when producer B initialises the same transactionalId; A’s record is never visible', async () => {
    const kafka = newKafka('proof-fencing')
    const topic = uniqueName('proof-fence')
    const transactionalId = uniqueName('proof-fence-txid')
    const admin = kafka.admin()
    await admin.connect()
    await createTopics(admin, [{ topic, numPartitions: 1, replicationFactor: 1 }])
    await admin.disconnect()

    const a = transactionalProducer(kafka, transactionalId)
    const b = transactionalProducer(kafka, transactionalId)
    await a.connect()
    await b.connect()
    try {
      const txA = await a.transaction()
      await txA.send({ topic, messages: [{ key: 'k', value: 'from-A' }] })

      // B's first transaction() runs InitProducerId for the same id: the coordinator bumps the epoch and aborts A's
      // open transaction.
      const txB = await b.transaction()

      const commitA = await txA.commit().then(
        () => undefined,
        (err: unknown) => err,
      )
      expect(commitA, 'the zombie producer A must not be able to commit').toBeInstanceOf(Error)
      expect(FENCING_ERRORS).toContain(errorType(commitA))
      expect(errorType(commitA)).toBe('INVALID_PRODUCER_EPOCH') // pinned: a change here matters to the core's error handling

      await txB.send({ topic, messages: [{ key: 'k', value: 'from-B' }] })
      await txB.commit()
    } finally {
      await a.disconnect().catch(() => undefined)
      await b.disconnect()
    }

    const got = await consumeUntil(kafka, {
      topics: [topic],
      until: (r) => r.some((m) => m.value === 'from-B'),
      settleMs: 300,
    })
    expect(got.map((r) => r.value)).toEqual(['from-B'])
  })

  // Why a transaction slower than processing.transactionTimeoutMs looks like fencing (src/runtime/fence.ts): the
  // coordinator aborts it (its scan runs every transaction.abort.timed.out.transaction.cleanup.interval.ms, 10 s by
  // default) and bumps the producer's epoch, so the producer's next call fails as a fenced one does.
  it('a transaction open past its timeout is aborted by the coordinator; the next call fails INVALID_PRODUCER_EPOCH', async () => {
    const kafka = newKafka('proof-txn-timeout')
    const topic = uniqueName('proof-txn-timeout')
    const admin = kafka.admin()
    await admin.connect()
    await createTopics(admin, [{ topic, numPartitions: 1, replicationFactor: 1 }])
    await admin.disconnect()
    const p = kafka.producer({
      transactionalId: uniqueName('proof-txn-timeout-txid'),
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: 1000,
      retry: { initialRetryTime: 20, maxRetryTime: 500, retries: 3 },
    })
    await p.connect()
    try {
      const tx = await p.transaction()
      await tx.send({ topic, messages: [{ key: 'k', value: 'slow' }] })
      await new Promise((r) => setTimeout(r, 11_500)) // past the timeout and one abort scan
      const err = await tx.send({ topic, messages: [{ key: 'k', value: 'late' }] }).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(errorType(err)).toBe('INVALID_PRODUCER_EPOCH')
      expect(isFencingError(err)).toBe(true)
    } finally {
      await p.disconnect().catch(() => undefined)
    }
    // The aborted record never becomes visible: a read_committed consumer gets nothing within 3 s.
    const got = await consumeUntil(kafka, { topics: [topic], until: () => true, timeoutMs: 3000 }).catch(
      () => [],
    )
    expect(got).toEqual([])
  }, 60_000)
})
