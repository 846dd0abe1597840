import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Kafka, logLevel, Partitioners } from 'kafkajs'
import { startKafka, type KafkaHandle } from '../../src/devkafka/index.ts'
import { consumeUntil, createTopics, pollUntil, uniqueName } from '../support/kafka.ts'

// Proves the 3-node launcher gives a real replicated cluster: RF 3 topics, min.insync.replicas=2, and that losing
// one node (SIGKILL) keeps produce (acks=all) and consume working; restartNode() brings the node back.

describe('3-node cluster', () => {
  let cluster: KafkaHandle
  let kafka: Kafka
  beforeAll(async () => {
    cluster = await startKafka({ nodes: 3, heapMb: 384 })
    kafka = new Kafka({
      clientId: 'devkafka-3node',
      brokers: cluster.brokers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 2000,
      requestTimeout: 10_000,
      retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 15 },
    })
  }, 150_000)
  afterAll(async () => {
    await cluster?.stop()
  }, 60_000)

  it('survives the loss of the partition leader and gets it back', async () => {
    expect(cluster.nodes.map((n) => n.nodeId)).toEqual([1, 2, 3])
    expect(cluster.nodes.every((n) => n.running)).toBe(true)
    const admin = kafka.admin()
    await admin.connect()
    try {
      expect((await admin.describeCluster()).brokers.map((b) => b.nodeId).sort()).toEqual([1, 2, 3])

      const topic = uniqueName('dk3-topic')
      await createTopics(admin, [{ topic, numPartitions: 1 }]) // broker default: default.replication.factor=3
      const meta = await admin.fetchTopicMetadata({ topics: [topic] })
      const p0 = meta.topics[0]?.partitions[0]
      expect(p0?.replicas.slice().sort()).toEqual([1, 2, 3])
      const leader = p0?.leader ?? -1
      const leaderIndex = cluster.nodes.findIndex((n) => n.nodeId === leader)
      expect(leaderIndex).toBeGreaterThanOrEqual(0)

      const producer = kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        idempotent: true,
        maxInFlightRequests: 1,
      })
      await producer.connect()
      await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'before' }] })

      const killedPid = cluster.nodes[leaderIndex]?.pid
      await cluster.killNode(leaderIndex)
      expect(cluster.nodes[leaderIndex]?.running).toBe(false)
      expect(() => process.kill(killedPid ?? -1, 0)).toThrow()

      // The controller fences the dead node (broker.session.timeout.ms) and moves leadership to a survivor.
      const survivors = await pollUntil(
        async () =>
          (await admin.describeCluster().catch(() => ({ brokers: [] }))).brokers.map((b) => b.nodeId).sort(),
        (ids) => ids.length === 2,
        30_000,
      )
      expect(survivors).toEqual([1, 2, 3].filter((id) => id !== leader))

      // acks=all with 2 of 3 replicas in sync: min.insync.replicas=2 is still met.
      await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'after' }] })
      await producer.disconnect()
      const newLeader = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]?.partitions[0]?.leader
      expect(newLeader).not.toBe(leader)

      const got = await consumeUntil(kafka, {
        topics: [topic],
        until: (r) => r.length >= 2,
        timeoutMs: 60_000,
        settleMs: 300,
      })
      expect(got.map((r) => r.value)).toEqual(['before', 'after'])

      await cluster.restartNode(leaderIndex)
      expect(cluster.nodes[leaderIndex]?.running).toBe(true)
      expect(cluster.nodes[leaderIndex]?.pid).not.toBe(killedPid)
      const back = await pollUntil(
        async () =>
          (await admin.describeCluster().catch(() => ({ brokers: [] }))).brokers.map((b) => b.nodeId).sort(),
        (ids) => ids.length === 3,
        30_000,
      )
      expect(back).toEqual([1, 2, 3])
    } finally {
      await admin.disconnect()
    }
  })
})
