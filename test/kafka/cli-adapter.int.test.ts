/**
 * The adapters the CLI and the CommandClient use, on the real broker: KafkaClusterAdmin (end offsets,
 * partition count, group members), KafkaTopicReader (committed records of one partition) and
 * KafkaCommandTransport (partition routing, replies from now on, committed only).
 */
import { randomUUID } from 'node:crypto'
import type { Admin, Kafka, Producer } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ReplyRecord } from '../../src/client/transport.ts'
import { KafkaClusterAdmin, withClusterAdmin } from '../../src/kafka/admin.ts'
import { KafkaCommandTransport } from '../../src/kafka/command-transport.ts'
import { partitionOf } from '../../src/kafka/partitioner.ts'
import { KafkaTopicReader } from '../../src/kafka/topic-reader.ts'
import { consumeUntil, createTopics, newKafka, pollUntil, uniqueName } from '../support/kafka.ts'

describe('CLI and client adapters on the real broker', () => {
  let kafka: Kafka
  let admin: Admin
  const producers: Producer[] = []
  beforeAll(async () => {
    kafka = newKafka('cli-adapter')
    admin = kafka.admin()
    await admin.connect()
  })
  afterAll(async () => {
    for (const p of producers) await p.disconnect().catch(() => undefined)
    await admin?.disconnect()
  })

  const transactional = async (id: string) => {
    const p = kafka.producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1 })
    producers.push(p)
    await p.connect()
    return p
  }
  /** EndTxn returns before the markers are written: wait (bounded) until the partition's end is `high`. */
  const waitForEnd = async (topic: string, partition: number, high: string) => {
    const ends = await pollUntil(
      () => withClusterAdmin(kafka, (a) => a.endOffsets(topic)),
      (e) => e.get(partition) === high,
    )
    expect(ends.get(partition)).toBe(high)
  }

  it('KafkaClusterAdmin: partition count, end offsets, topic names, group members', async () => {
    const topic = uniqueName('adapter-admin')
    await createTopics(admin, [{ topic, numPartitions: 3, replicationFactor: 1 }])
    // Idempotent: a plain producer's retry (right after the topic's creation) may write a record twice.
    const plain = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    producers.push(plain)
    await plain.connect()
    await plain.send({
      topic,
      messages: [
        { partition: 0, value: 'a' },
        { partition: 0, value: 'b' },
      ],
    })
    await plain.send({ topic, messages: [{ partition: 2, value: 'c' }] })

    const groupId = uniqueName('adapter-group')
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 })
    let joined!: () => void
    const joinedP = new Promise<void>((r) => (joined = r))
    consumer.on(consumer.events.GROUP_JOIN, () => joined())
    const cluster = await KafkaClusterAdmin.connect(kafka)
    try {
      expect(await cluster.partitionCount(topic)).toBe(3)
      expect(await cluster.endOffsets(topic)).toEqual(
        new Map([
          [0, '2'],
          [1, '0'],
          [2, '1'],
        ]),
      )
      expect(await cluster.topicNames()).toContain(topic)
      expect(await cluster.groupMemberCount(groupId)).toBe(0)
      await consumer.connect()
      await consumer.subscribe({ topic })
      await consumer.run({ eachMessage: async () => undefined })
      await joinedP
      expect(await cluster.groupMemberCount(groupId)).toBe(1)
    } finally {
      await consumer.disconnect()
      await cluster.close()
    }
  }, 60_000)

  it('KafkaTopicReader: the committed records of one partition, aborted ones left out', async () => {
    const topic = uniqueName('adapter-reader')
    await createTopics(admin, [{ topic, numPartitions: 2, replicationFactor: 1 }])
    const p = await transactional(`${topic}-txn`)
    const aborted = await p.transaction()
    await aborted.send({ topic, messages: [{ partition: 1, key: 'x', value: 'aborted' }] }) // 0
    await aborted.abort() // marker 1
    const committed = await p.transaction()
    await committed.send({
      topic,
      messages: [
        { partition: 1, key: 'a', value: 'one' },
        { partition: 1, key: null, value: 'two' },
      ],
    }) // 2, 3
    await committed.commit() // marker 4
    await p.send({ topic, messages: [{ partition: 0, key: 'other', value: 'elsewhere' }] })
    await waitForEnd(topic, 1, '5')

    const got: { offset: bigint; key: string | null; value: string | undefined }[] = []
    const reader = new KafkaTopicReader(kafka)
    await reader.readPartition(
      topic,
      1,
      (records) => void got.push(...records.map((r) => ({ ...r, value: r.value?.toString() }))),
      20_000,
    )
    expect(got).toEqual([
      { offset: 2n, key: 'a', value: 'one' },
      { offset: 3n, key: null, value: 'two' },
    ])
  }, 60_000)

  it('KafkaCommandTransport: routes records by key as partitionOf, one or many; hears committed replies from now on', async () => {
    const commandsTopic = uniqueName('adapter-commands')
    const repliesTopic = uniqueName('adapter-replies')
    await createTopics(admin, [
      { topic: commandsTopic, numPartitions: 3, replicationFactor: 1 },
      { topic: repliesTopic, numPartitions: 2, replicationFactor: 1 },
    ])
    const transport = new KafkaCommandTransport(kafka, { commandsTopic, repliesTopic })
    try {
      const keys = Array.from({ length: 20 }, (_, i) => `agg-${i}`)
      const single = await transport.send([{ key: 'single', value: Buffer.from('single') }])
      const many = await transport.send(
        keys.map((key) => ({ key, value: Buffer.from(key), headers: { h: 'v' } })),
      )
      const received = await consumeUntil(kafka, { topics: [commandsTopic], until: (r) => r.length >= 21 })
      expect(received).toHaveLength(21)
      for (const r of received) expect(r.partition).toBe(partitionOf(r.key!, 3))
      // send resolves with where each record was written, in the order given (base offset + index per partition).
      const at = new Map(received.map((r) => [r.key!, { partition: r.partition, offset: String(r.offset) }]))
      expect(single).toEqual([at.get('single')])
      expect(many).toEqual(keys.map((k) => at.get(k)))

      // A reply written before listening is not heard; an aborted one never; a committed one once it committed.
      const plain = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
      producers.push(plain)
      await plain.connect()
      await plain.send({ topic: repliesTopic, messages: [{ partition: 0, key: 'old', value: 'old' }] })
      const heard: ReplyRecord[] = []
      await transport.listenForReplies((records) => heard.push(...records))
      const p = await transactional(`${repliesTopic}-${randomUUID()}`)
      const aborted = await p.transaction()
      await aborted.send({ topic: repliesTopic, messages: [{ partition: 0, key: 'k', value: 'aborted' }] })
      await aborted.abort()
      const committed = await p.transaction()
      await committed.send({
        topic: repliesTopic,
        messages: [
          {
            partition: 1,
            key: 'k',
            value: 'committed',
            headers: { 'content-type': Buffer.from('application/json') },
          },
        ],
      })
      await committed.commit()
      await pollUntil(
        async () => heard.length,
        (n) => n >= 1,
      )
      await new Promise((r) => setTimeout(r, 500)) // nothing else arrives
      expect(heard.map((r) => ({ value: r.value?.toString(), headers: r.headers }))).toEqual([
        { value: 'committed', headers: { 'content-type': 'application/json' } },
      ])
    } finally {
      await transport.close()
    }
  }, 90_000)
})
