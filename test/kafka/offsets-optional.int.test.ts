/**
 * On the real broker: a transactional producer of this package (kafkajs with src/kafka/preload.ts, as workers run it)
 * can leave the input offset out of a transaction (processing.offsetCommitIntervalMs): it adds the transaction's
 * partitions itself, retried while the previous transaction's markers are written, so kafkajs' send meets no
 * CONCURRENT_TRANSACTIONS (whose retry of a multi-broker send could duplicate records) and sends one Produce request.
 * Without the preload the producer says it cannot, and a task puts the offset into every transaction.
 */
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Admin, Kafka } from 'kafkajs'
import { consumeUntil, createTopics, kafkaBrokers, newKafka, uniqueName } from '../support/kafka.ts'

const TRANSACTIONS = 12

/** Runs `transactions` transactions in a fresh process; every third one carries the input offset. */
function run(o: { preload: boolean; input: string; output: string; group: string }): {
  offsetsOptional: boolean
  requests: Record<string, number>
} {
  const src = (p: string) => JSON.stringify(new URL(`../../src/${p}`, import.meta.url).href)
  const out = execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `${o.preload ? `await import(${src('index.ts')});` : ''}
       const { Kafka, logLevel } = await import('kafkajs');
       const { KafkaTransactionalProducer } = await import(${src('kafka/transactional-producer.ts')});
       const kafka = new Kafka({ clientId: 'oo', brokers: ${JSON.stringify(kafkaBrokers())}, logLevel: logLevel.NOTHING });
       const p = new KafkaTransactionalProducer(kafka, {
         transactionalId: ${JSON.stringify(uniqueName('oo-txn'))}, groupId: ${JSON.stringify(o.group)},
         inputTopic: ${JSON.stringify(o.input)}, inputPartition: 0, transactionTimeoutMs: 10000,
         maxRequestBytes: 1000000, partitionCounts: new Map([[${JSON.stringify(o.output)}, 2]]),
       });
       const requests = {};
       p.producer.on(p.producer.events.REQUEST, (e) => { requests[e.payload.apiName] = (requests[e.payload.apiName] ?? 0) + 1 });
       await p.init();
       const started = { ...requests };
       for (let i = 1; i <= ${TRANSACTIONS}; i++) {
         const t = await p.begin();
         // Two partitions, one keyed (the producer picks its partition): back to back, so the previous markers are
         // often still being written when the next transaction starts.
         await t.write([
           { topic: ${JSON.stringify(o.output)}, partition: 0, key: 'k', value: Buffer.from('a' + i), headers: {} },
           { topic: ${JSON.stringify(o.output)}, key: 'key-' + i, value: Buffer.from('b' + i), headers: {} },
         ], i % 3 === 0 ? BigInt(i) : undefined, []);
         await t.commit();
       }
       const during = {};
       for (const [k, v] of Object.entries(requests)) during[k] = v - (started[k] ?? 0);
       const offsetsOptional = p.offsetsOptional;
       await p.close();
       process.stdout.write(JSON.stringify({ offsetsOptional, requests: during }));`,
    ],
    { encoding: 'utf8', timeout: 90_000 },
  )
  return JSON.parse(out) as { offsetsOptional: boolean; requests: Record<string, number> }
}

describe('transactions without the input offset', () => {
  let kafka: Kafka
  let admin: Admin
  beforeAll(async () => {
    kafka = newKafka('offsets-optional')
    admin = kafka.admin()
    await admin.connect()
  })
  afterAll(async () => {
    await admin?.disconnect()
  })

  const topics = async () => {
    const t = { input: uniqueName('oo-in'), output: uniqueName('oo-out'), group: uniqueName('oo-group') }
    await createTopics(admin, [
      { topic: t.input, numPartitions: 1, replicationFactor: 1 },
      { topic: t.output, numPartitions: 2, replicationFactor: 1 },
    ])
    return t
  }

  it(`${TRANSACTIONS} transactions, a third with the offset: one AddPartitionsToTxn and one Produce each, all committed`, async () => {
    const t = await topics()
    const { offsetsOptional, requests } = run({ preload: true, ...t })
    expect(offsetsOptional).toBe(true)
    const n = (api: string) => requests[api] ?? 0
    const withOffsets = TRANSACTIONS / 3
    expect(n('EndTxn'), JSON.stringify(requests)).toBe(TRANSACTIONS)
    // Only the transactions that carry the offset send AddOffsetsToTxn (retried while markers are written).
    expect(n('TxnOffsetCommit'), JSON.stringify(requests)).toBe(withOffsets)
    expect(n('AddOffsetsToTxn')).toBeGreaterThanOrEqual(withOffsets)
    // One Produce per transaction: kafkajs never retried a send, so it never met CONCURRENT_TRANSACTIONS.
    expect(n('Produce'), JSON.stringify(requests)).toBe(TRANSACTIONS)
    // The others add their partitions once (more only when retried while the previous markers were written);
    // the ones with the offset add theirs in the send (after AddOffsetsToTxn waited).
    expect(n('AddPartitionsToTxn')).toBeGreaterThanOrEqual(TRANSACTIONS)

    const offsets = await admin.fetchOffsets({ groupId: t.group, topics: [t.input] })
    expect(offsets[0]!.partitions[0]!.offset).toBe(String(TRANSACTIONS))
    const read = await consumeUntil(kafka, { topics: [t.output], until: (r) => r.length >= 2 * TRANSACTIONS })
    const values = read.map((r) => r.value).sort()
    const expected = Array.from({ length: TRANSACTIONS }, (_, i) => [`a${i + 1}`, `b${i + 1}`]).flat()
    expect(values).toEqual(expected.sort())
  })

  it('without the preload (kafkajs loaded first) the producer cannot leave the offset out', async () => {
    const t = await topics()
    // The transactions above run anyway, with kafkajs adding the partitions inside its send (as the rebuild does).
    const { offsetsOptional, requests } = run({ preload: false, ...t })
    expect(offsetsOptional).toBe(false)
    expect(requests['EndTxn']).toBe(TRANSACTIONS)
  })
})
