import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Admin, Kafka, Producer } from 'kafkajs'
import { logRecordsOf, TransactionFilter } from '../../src/kafka/transactions.ts'
import { createTopics, newKafka, uniqueName } from '../support/kafka.ts'

/** Reads one partition from `from` to its end with kafkajs; returns the values eachBatch was given, or ours. */
async function readFrom(kafka: Kafka, topic: string, from: string, end: bigint, mode: 'kafkajs-read-committed' | 'markers'): Promise<string[]> {
  const consumer = kafka.consumer({ groupId: `t-${randomUUID()}`, readUncommitted: mode === 'markers', maxWaitTimeInMs: 100 })
  const out: string[] = []
  const filter = new TransactionFilter()
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  consumer.on(consumer.events.GROUP_JOIN, () => consumer.seek({ topic, partition: 0, offset: from }))
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
    if (BigInt(e.payload.lastOffset) >= end - 1n) done()
  })
  await consumer.connect()
  await consumer.subscribe({ topic })
  await consumer.run({
    eachBatch: async ({ batch }) => {
      if (mode === 'markers') for (const r of filter.push(logRecordsOf(batch))) out.push(r.value!.toString())
      else for (const m of batch.messages) out.push(m.value!.toString())
    },
  })
  const timer = setTimeout(done, 20_000)
  await finished
  clearTimeout(timer)
  await consumer.disconnect()
  return out
}

// Why readers of multi-producer partitions (replies, the verifier) apply the transaction markers themselves.
describe('kafkajs read_committed vs the transaction markers, on the real broker', () => {
  let kafka: Kafka
  let admin: Admin
  const producers: Producer[] = []
  beforeAll(async () => {
    kafka = newKafka('proof-txn-filter')
    admin = kafka.admin()
    await admin.connect()
  })
  afterAll(async () => {
    for (const p of producers) await p.disconnect().catch(() => undefined)
    await admin?.disconnect()
  })

  it('two interleaved aborted transactions read from their middle: kafkajs hands out an aborted record, the markers do not', async () => {
    const topic = uniqueName('proof-interleaved')
    await createTopics(admin, [{ topic, numPartitions: 1, replicationFactor: 1 }])
    const mk = async (id: string) => {
      const p = kafka.producer({ transactionalId: `${topic}-${id}`, idempotent: true, maxInFlightRequests: 1 })
      producers.push(p)
      await p.connect()
      return p
    }
    const [a, b, c] = [await mk('a'), await mk('b'), await mk('c')]
    const ta = await a.transaction()
    const tb = await b.transaction()
    const send = (t: typeof ta, v: string) => t.send({ topic, messages: [{ partition: 0, value: v }] })
    await send(ta, 'a-aborted-0') // 0
    await send(tb, 'b-aborted-1') // 1
    await send(tb, 'b-aborted-2') // 2
    await send(ta, 'a-aborted-3') // 3
    await ta.abort() // marker 4
    await tb.abort() // marker 5
    const tc = await c.transaction()
    await send(tc, 'c-committed-6') // 6
    await tc.commit() // marker 7
    const [end] = await admin.fetchTopicOffsets(topic)
    expect(end?.high).toBe('8')

    // From offset 2, both aborted transactions started before the fetch: kafkajs moves one of them per record.
    const byKafkajs = await readFrom(kafka, topic, '2', 8n, 'kafkajs-read-committed')
    expect(byKafkajs).toContain('b-aborted-2')
    const byMarkers = await readFrom(kafka, topic, '2', 8n, 'markers')
    expect(byMarkers).toEqual(['c-committed-6'])
    // From the start both agree.
    expect(await readFrom(kafka, topic, '0', 8n, 'markers')).toEqual(['c-committed-6'])
  }, 60_000)
})
