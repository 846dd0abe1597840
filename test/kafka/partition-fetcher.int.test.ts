import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Admin, Kafka, Producer } from 'kafkajs'
import { KafkaChangelogReader } from '../../src/kafka/changelog-reader.ts'
import { PartitionFetcher } from '../../src/kafka/partition-fetcher.ts'
import { createTopics, newKafka, uniqueName } from '../support/kafka.ts'

// Restores and standbys read changelog partitions with Fetch requests of their own: no consumer group at all.
describe('PartitionFetcher and the changelog reader on the real broker', () => {
  let kafka: Kafka
  let admin: Admin
  let fetcher: PartitionFetcher
  const producers: Producer[] = []
  const clientId = uniqueName('partition-fetcher')
  beforeAll(async () => {
    kafka = newKafka(clientId)
    admin = kafka.admin()
    await admin.connect()
    fetcher = new PartitionFetcher(kafka, { maxBytesPerPartition: 1024, maxWaitMs: 50 })
  })
  afterAll(async () => {
    for (const p of producers) await p.disconnect().catch(() => undefined)
    await fetcher?.close()
    await admin?.disconnect()
  })

  const transactional = async (topic: string) => {
    const p = kafka.producer({ transactionalId: `${topic}-tx`, idempotent: true, maxInFlightRequests: 1 })
    producers.push(p)
    await p.connect()
    return p
  }

  it('reads committed records only (aborted ones and markers dropped), from any offset, in small fetches, joining no group', async () => {
    const topic = uniqueName('fetcher-log')
    await createTopics(admin, [{ topic, numPartitions: 2, replicationFactor: 1 }])
    const groupsBefore = new Set((await admin.listGroups()).groups.map((g) => g.groupId))
    const p = await transactional(topic)
    const plain = kafka.producer()
    producers.push(plain)
    await plain.connect()
    const send = async (values: string[], outcome: 'commit' | 'abort') => {
      const tx = await p.transaction()
      await tx.send({ topic, messages: values.map((value) => ({ key: value, value, partition: 1 })) })
      await (outcome === 'commit' ? tx.commit() : tx.abort())
    }
    // 30 transactions of 10 records of ~40 bytes: many 1 KiB fetches, each transaction released at its marker.
    const many = Array.from({ length: 300 }, (_, i) => `committed-${i}-${'x'.repeat(24)}`)
    for (let i = 0; i < 300; i += 10) await send(many.slice(i, i + 10), 'commit')
    await send(['aborted-1', 'aborted-2'], 'abort')
    const [sent] = await plain.send({ topic, messages: [{ key: 'plain', value: 'plain', partition: 1 }] })
    await send(['last'], 'commit')
    await plain.send({ topic, messages: [{ key: 'other', value: 'elsewhere', partition: 0 }] })

    const reader = new KafkaChangelogReader(fetcher, admin, topic, 1)
    const end = await reader.endOffset()
    const read = async (from: bigint) => {
      const out: { offset: bigint; key: string | null; value: string }[] = []
      let chunks = 0
      await reader.read(
        from,
        end,
        async (records) => {
          chunks++
          out.push(...records.map((r) => ({ ...r, value: r.value!.toString() })))
        },
        20_000,
      )
      return { out, chunks }
    }
    const all = await read(0n)
    expect(all.out.map((r) => r.value)).toEqual([...many, 'plain', 'last'])
    // Offsets are the log's: 300 records + commit marker, 2 aborted + abort marker, then 'plain'.
    // The log's own offsets: 'plain' where the producer was told it went.
    const plainAt = BigInt(sent!.baseOffset!)
    expect(all.out[300]).toEqual({ offset: plainAt, key: 'plain', value: 'plain' })
    expect(all.chunks).toBeGreaterThan(5)
    // From the middle of the aborted transaction (its 2 records and its marker are right before 'plain'): the abort
    // marker still drops what follows in it.
    const fromMiddle = await read(plainAt - 2n)
    expect(fromMiddle.out.map((r) => r.value)).toEqual(['plain', 'last'])
    // No group of its own: the groups that appeared meanwhile (other test files run at the same time) have no member
    // of this client and no offsets of this topic.
    const appeared = (await admin.listGroups()).groups
      .map((g) => g.groupId)
      .filter((g) => !groupsBefore.has(g))
    if (appeared.length > 0) {
      const described = await admin.describeGroups(appeared)
      expect(described.groups.flatMap((g) => g.members.map((m) => m.clientId))).not.toContain(clientId)
      for (const groupId of appeared) {
        const offsets = await admin.fetchOffsets({ groupId, topics: [topic] })
        expect(offsets.flatMap((t) => t.partitions.map((x) => x.offset)).filter((o) => o !== '-1')).toEqual(
          [],
        )
      }
    }
  }, 60_000)

  it('stops at the last stable offset: records of an open transaction are not handed out until it commits', async () => {
    const topic = uniqueName('fetcher-open')
    await createTopics(admin, [{ topic, numPartitions: 1, replicationFactor: 1 }])
    const p = await transactional(topic)
    const tx1 = await p.transaction()
    await tx1.send({ topic, messages: [{ key: 'a', value: 'a', partition: 0 }] })
    await tx1.commit()
    const tx2 = await p.transaction()
    await tx2.send({ topic, messages: [{ key: 'b', value: 'b', partition: 0 }] })
    const open = (await fetcher.fetch([{ topic, partition: 0, offset: 0n }]))[0]!
    expect(open.lastStableOffset).toBe(2n) // 'a' and its marker
    expect(open.highWatermark).toBe(3n)
    expect(open.records.map((r) => r.offset)).toEqual(['0', '1'])
    await tx2.commit()
    const after = (await fetcher.fetch([{ topic, partition: 0, offset: 2n }]))[0]!
    expect(after.records.map((r) => [r.offset, r.control ?? r.value?.toString()])).toEqual([
      ['2', 'b'],
      ['3', 'commit'],
    ])
  }, 60_000)
})
