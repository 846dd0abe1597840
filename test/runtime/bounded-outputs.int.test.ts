/**
 * Every record a task writes stays within processing.maxRecordBytes, on the real broker with its default limits
 * (message.max.bytes 1 MB): a ~900 KB garbage command is dead-lettered whole, and a 3 MB command a producer sent
 * gzip-compressed (the broker took it: its batch was small) is dead-lettered with a prefix of its value and
 * kd-original-truncated. Before, that dead letter (3 MB uncompressed) was refused by the broker, the transaction
 * aborted, and the batch was retried for ever: the partition was wedged.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import pino from 'pino'
import { CompressionTypes } from 'kafkajs'
import { Packr } from 'msgpackr'
import { resolveWorkerConfig } from '../../src/config/worker-config.ts'
import { HEADERS } from '../../src/domain/envelopes.ts'
import { ensureTopics } from '../../src/kafka/topics.ts'
import { recordBytes } from '../../src/runtime/batch-outputs.ts'
import { loadTopology } from '../../src/topology/loader.ts'
import { Worker } from '../../src/worker/worker.ts'
import { kafkaBrokers, newKafka } from '../support/kafka.ts'
import { readTopic, tempDir, waitForReplies, writeBankTopology } from '../support/eos.ts'

const packr = new Packr({ useRecords: false })

describe('outputs within maxRecordBytes (real broker, default limits)', () => {
  let worker: Worker | undefined
  afterAll(async () => {
    await worker?.stop()
  })

  it('near-limit and compressed oversized bad commands are dead-lettered, bounded; the partition goes on', async () => {
    const dir = tempDir('bounded')
    const topology = await loadTopology(writeBankTopology(dir, `bounded-${Date.now()}`))
    const max = topology.definition.processing.maxRecordBytes
    const kafka = newKafka('bounded-outputs')
    const admin = kafka.admin()
    await admin.connect()
    await ensureTopics(admin, topology, { create: true })
    await admin.disconnect()

    const key = 'acc-big'
    const nearLimit = Buffer.concat([Buffer.from([0xc1]), randomBytes(900_000)]) // never valid msgpack or JSON
    const compressed = Buffer.alloc(3_000_000, 0xc1) // 3 MB, gzip-compressed to a few KB on the way in
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: topology.topics.commands, messages: [{ key, value: nearLimit }] })
    await producer.send({
      topic: topology.topics.commands,
      compression: CompressionTypes.GZIP,
      messages: [{ key, value: compressed }],
    })
    await producer.send({
      topic: topology.topics.commands,
      messages: [
        {
          key,
          value: packr.pack({ commandId: 'after-big', type: 'CreateAccount', payload: { owner: 'Ada' } }),
        },
      ],
    })
    await producer.disconnect()

    const config = resolveWorkerConfig(
      {
        kafka: { brokers: kafkaBrokers() },
        stateDir: `${dir}/state`,
        http: { enabled: false },
        log: { level: 'silent' },
      },
      {},
    )
    worker = new Worker({
      topologies: [topology],
      config,
      logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    })
    await worker.start()

    const replies = await waitForReplies(kafka, topology.topics.replies, 1, 90_000)
    expect(replies.map((r) => r.value)).toMatchObject([{ commandId: 'after-big', status: 'accepted' }])

    const dlq = await readTopic(kafka, topology.topics.deadLetters, { raw: true })
    expect(dlq).toHaveLength(2)
    for (const r of dlq) {
      const value = r.value as Buffer
      expect(recordBytes({ key: r.key, value, headers: r.headers })).toBeLessThanOrEqual(max)
    }
    const [first, second] = [...dlq].sort(
      (a, b) => Number(a.headers[HEADERS.sourceOffset]) - Number(b.headers[HEADERS.sourceOffset]),
    )
    expect((first!.value as Buffer).equals(nearLimit)).toBe(true) // fits: kept whole
    expect(first!.headers[HEADERS.originalTruncated]).toBeUndefined()
    expect(second!.headers[HEADERS.originalTruncated]).toBe(String(compressed.length))
    expect((second!.value as Buffer).equals(compressed.subarray(0, (second!.value as Buffer).length))).toBe(
      true,
    )

    // No transaction was aborted on the way: the partition never stalled.
    const metrics = await worker.metrics.registry.metrics()
    expect(metrics).not.toMatch(/decider_transactions_total\{[^}]*result="aborted"[^}]*\} [1-9]/)
  })
})
