import { describe, expect, it } from 'vitest'
import { Partitioners } from 'kafkajs'
import { createTopics, consumeUntil, newKafka, pollUntil, uniqueName } from '../support/kafka.ts'

// Proves plain produce + consumer-group consumption with kafkajs 2.2.4 against the real broker: every record is
// delivered exactly once to the group, and the group's committed offsets cover all of them.
describe('produce and consume with a consumer group', () => {
  it('delivers every record once across partitions and commits the group offsets', async () => {
    const kafka = newKafka('proof-pc')
    const topic = uniqueName('proof-pc')
    const groupId = uniqueName('proof-pc-group')
    const admin = kafka.admin()
    await admin.connect()
    try {
      await createTopics(admin, [{ topic, numPartitions: 3, replicationFactor: 1 }])

      const producer = kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        idempotent: true,
        maxInFlightRequests: 1,
      })
      await producer.connect()
      const N = 30
      await producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: N }, (_, i) => ({ key: `k${i % 7}`, value: `v${i}` })),
      })
      await producer.disconnect()

      const got = await consumeUntil(kafka, {
        topics: [topic],
        groupId,
        until: (r) => r.length >= N,
        settleMs: 1000,
      })
      const values = got.map((r) => r.value)
      expect(values).toHaveLength(N) // no duplicates within the settle window
      expect(new Set(values)).toEqual(new Set(Array.from({ length: N }, (_, i) => `v${i}`)))
      expect(new Set(got.map((r) => r.partition)).size).toBeGreaterThan(1) // really spread over partitions
      // Same key -> same partition (what per-entity ordering relies on).
      const partitionOfKey = new Map<string, number>()
      for (const r of got) {
        const p = partitionOfKey.get(r.key ?? '')
        if (p !== undefined) expect(r.partition).toBe(p)
        partitionOfKey.set(r.key ?? '', r.partition)
      }

      const committed = await pollUntil(
        async () => (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? [],
        (ps) => ps.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0) === N,
      )
      expect(committed.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0)).toBe(N)
    } finally {
      await admin.disconnect()
    }
  })
})
