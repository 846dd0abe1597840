import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Partitioners, type Admin, type Kafka, type Offsets, type Producer, type Transaction } from 'kafkajs'
import { createTopics, consumeUntil, newKafka, pollUntil, uniqueName } from '../support/kafka.ts'

// Proves kafkajs 2.2.4 transactions work against the real broker (formatted with the Kafka 4.x defaults, i.e.
// transaction.version=2): the exactly-once core writes events + replies and commits the command consumer's offset
// in ONE transaction, and relies on aborted writes never reaching read_committed readers.

function transactionalProducer(kafka: Kafka, transactionalId: string): Producer {
  return kafka.producer({
    transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    // kafkajs backs off on CONCURRENT_TRANSACTIONS (returned while the previous transaction's markers are written);
    // a low initial retry time keeps back-to-back transactions fast.
    retry: { initialRetryTime: 20, maxRetryTime: 500, retries: 15 },
  })
}

/**
 * Group-coordinator errors kafkajs 2.2.4's sendOffsets should retry but does not: its eosManager retries only
 * ['UNKNOWN_TOPIC_OR_PARTITION', 'COORDINATOR_LOAD_IN_PROGRESS'] and re-looks-up the coordinator on
 * ['COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR'] — but kafkajs's own names for error codes 14/15/16 are
 * GROUP_LOAD_IN_PROGRESS / GROUP_COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR_FOR_GROUP, so none of those lists ever
 * matches and sendOffsets fails at once. Seen here on a fresh broker: TxnOffsetCommit -> NOT_COORDINATOR_FOR_GROUP
 * while the group's __consumer_offsets partition is still loading. The transaction stays open (state TRANSACTING),
 * so calling sendOffsets again (AddOffsetsToTxn is idempotent, the coordinator is looked up afresh) is safe.
 */
const GROUP_COORDINATOR_ERRORS = [
  'NOT_COORDINATOR_FOR_GROUP',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'GROUP_LOAD_IN_PROGRESS',
]

async function sendOffsetsRetrying(
  txn: Transaction,
  offsets: Offsets & { consumerGroupId: string },
  attempts = 30,
): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await txn.sendOffsets(offsets)
      return
    } catch (err) {
      const type = (err as { type?: string }).type ?? ''
      if (!GROUP_COORDINATOR_ERRORS.includes(type) || i >= attempts) throw err
      await new Promise((r) => setTimeout(r, Math.min(50 * i, 500)))
    }
  }
}

describe('transactions', () => {
  let kafka: Kafka
  let admin: Admin
  beforeAll(async () => {
    kafka = newKafka('proof-txn')
    admin = kafka.admin()
    await admin.connect()
  })
  afterAll(async () => {
    await admin?.disconnect()
  })

  it('commits sends to two topics together with the consumer group offset (sendOffsets)', async () => {
    const input = uniqueName('proof-txn-in')
    const outA = uniqueName('proof-txn-events')
    const outB = uniqueName('proof-txn-replies')
    const groupId = uniqueName('proof-txn-group')
    await createTopics(
      admin,
      [input, outA, outB].map((topic) => ({ topic, numPartitions: 1, replicationFactor: 1 })),
    )
    const plain = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await plain.connect()
    await plain.send({ topic: input, messages: [{ value: 'c0' }, { value: 'c1' }, { value: 'c2' }] })
    await plain.disconnect()

    const producer = transactionalProducer(kafka, uniqueName('proof-txn-commit'))
    await producer.connect()
    try {
      const txn = await producer.transaction()
      await txn.send({ topic: outA, messages: [{ key: 'acct-1', value: 'event-1' }] })
      await txn.send({ topic: outB, messages: [{ key: 'acct-1', value: 'reply-1' }] })
      await sendOffsetsRetrying(txn, {
        consumerGroupId: groupId,
        topics: [{ topic: input, partitions: [{ partition: 0, offset: '3' }] }],
      })
      await txn.commit()
    } finally {
      await producer.disconnect()
    }

    const got = await consumeUntil(kafka, {
      topics: [outA, outB],
      until: (r) => r.length >= 2,
      settleMs: 300,
    })
    expect(got.map((r) => [r.topic, r.key, r.value]).sort()).toEqual(
      [
        [outA, 'acct-1', 'event-1'],
        [outB, 'acct-1', 'reply-1'],
      ].sort(),
    )

    const offsets = await pollUntil(
      async () => (await admin.fetchOffsets({ groupId, topics: [input] }))[0]?.partitions ?? [],
      (ps) => ps[0]?.offset === '3',
    )
    expect(offsets).toEqual([expect.objectContaining({ partition: 0, offset: '3' })])
  })

  it('hides an aborted transaction from read_committed consumers but not from read_uncommitted ones', async () => {
    const topic = uniqueName('proof-txn-abort')
    await createTopics(admin, [{ topic, numPartitions: 1, replicationFactor: 1 }])
    const producer = transactionalProducer(kafka, uniqueName('proof-txn-abort'))
    await producer.connect()
    try {
      const aborted = await producer.transaction()
      await aborted.send({ topic, messages: [{ key: 'k', value: 'aborted' }] })
      await aborted.abort()
      // Written AFTER the aborted record: once a reader sees it, it has read past the aborted one.
      const committed = await producer.transaction()
      await committed.send({ topic, messages: [{ key: 'k', value: 'committed' }] })
      await committed.commit()
    } finally {
      await producer.disconnect()
    }

    const sawCommitted = (r: { value: string | null }[]): boolean => r.some((m) => m.value === 'committed')
    const readCommitted = await consumeUntil(kafka, { topics: [topic], until: sawCommitted, settleMs: 300 })
    expect(readCommitted.map((r) => r.value)).toEqual(['committed'])

    const readUncommitted = await consumeUntil(kafka, {
      topics: [topic],
      readUncommitted: true,
      until: sawCommitted,
      settleMs: 300,
    })
    expect(readUncommitted.map((r) => r.value)).toEqual(['aborted', 'committed'])
  })
})
