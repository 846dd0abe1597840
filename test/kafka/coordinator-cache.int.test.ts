/**
 * On the real broker: a transactional producer of this package (kafkajs with src/kafka/preload.ts, as workers run
 * it) commits its transactions with the coordinators it found once, instead of a FindCoordinator before every
 * transactional request, and the transactions still commit their records and input offsets.
 */
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Admin, Kafka } from 'kafkajs'
import { consumeUntil, createTopics, kafkaBrokers, newKafka, uniqueName } from '../support/kafka.ts'

const WARM_UP = 4
const TRANSACTIONS = 6

describe('coordinator lookups of a transactional producer', () => {
  let kafka: Kafka
  let admin: Admin
  beforeAll(async () => {
    kafka = newKafka('coordinator-cache')
    admin = kafka.admin()
    await admin.connect()
  })
  afterAll(async () => {
    await admin?.disconnect()
  })

  it(`${TRANSACTIONS} transactions with offsets after a warm-up: no coordinator lookups, everything commits`, async () => {
    const input = uniqueName('cc-in')
    const output = uniqueName('cc-out')
    const group = uniqueName('cc-group')
    await createTopics(admin, [
      { topic: input, numPartitions: 1, replicationFactor: 1 },
      { topic: output, numPartitions: 1, replicationFactor: 1 },
    ])
    // In a fresh process, as a worker loads it: the package entry first, then kafkajs.
    const src = (p: string) => JSON.stringify(new URL(`../../src/${p}`, import.meta.url).href)
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `await import(${src('index.ts')});
         const { Kafka, logLevel } = await import('kafkajs');
         const { KafkaTransactionalProducer } = await import(${src('kafka/transactional-producer.ts')});
         const kafka = new Kafka({ clientId: 'cc', brokers: ${JSON.stringify(kafkaBrokers())}, logLevel: logLevel.NOTHING });
         const p = new KafkaTransactionalProducer(kafka, {
           transactionalId: ${JSON.stringify(uniqueName('cc-txn'))}, groupId: ${JSON.stringify(group)},
           inputTopic: ${JSON.stringify(input)}, inputPartition: 0, transactionTimeoutMs: 10000,
           maxRequestBytes: 1000000, partitionCounts: new Map(),
         });
         const requests = {};
         p.producer.on(p.producer.events.REQUEST, (e) => { requests[e.payload.apiName] = (requests[e.payload.apiName] ?? 0) + 1 });
         await p.init();
         let before = { ...requests };
         for (let i = 1; i <= ${WARM_UP + TRANSACTIONS}; i++) {
           if (i === ${WARM_UP + 1}) before = { ...requests };
           const t = await p.begin();
           await t.write([{ topic: ${JSON.stringify(output)}, partition: 0, key: 'k', value: Buffer.from('v' + i), headers: {} }], BigInt(i), []);
           await t.commit();
         }
         await p.close();
         process.stdout.write(JSON.stringify({ before, after: requests }));`,
      ],
      { encoding: 'utf8', timeout: 90_000 },
    )
    const { before, after } = JSON.parse(out) as Record<string, Record<string, number>>
    const during = (api: string) => (after![api] ?? 0) - (before![api] ?? 0)
    expect(during('EndTxn')).toBe(TRANSACTIONS)
    expect(during('TxnOffsetCommit')).toBeGreaterThanOrEqual(TRANSACTIONS)
    // kafkajs alone: 4 per transaction (before AddOffsetsToTxn, TxnOffsetCommit, AddPartitionsToTxn, EndTxn),
    // more with the retries of AddOffsetsToTxn (CONCURRENT_TRANSACTIONS while the previous markers are written).
    // Remembered: none once warm (a fresh group's first TxnOffsetCommits may meet NOT_COORDINATOR, which makes the
    // producer look again, as it should).
    expect(during('GroupCoordinator'), JSON.stringify({ before, after })).toBe(0)
    const offsets = await admin.fetchOffsets({ groupId: group, topics: [input] })
    expect(offsets[0]!.partitions[0]!.offset).toBe(String(WARM_UP + TRANSACTIONS))
    const all = WARM_UP + TRANSACTIONS
    const read = await consumeUntil(kafka, { topics: [output], until: (r) => r.length >= all })
    expect(read.map((r) => r.value)).toEqual(Array.from({ length: all }, (_, i) => `v${i + 1}`))
  })
})
