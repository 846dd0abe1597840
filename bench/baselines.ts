/** The baselines: 1a. the broker's transactional produce ceiling, 1b. a kafkajs at-least-once loop. */
import { execFile } from 'node:child_process'
import type { Admin, Kafka } from 'kafkajs'
import { encodeCommand, type Cmd } from '../scripts/eos/bank.ts'
import { createTopics, produceAll, topicEnd } from './topics.ts'
import { now, withTimeout } from './util.ts'

// 1a. ProducerPerformance

export async function producerPerformance(
  classpath: string,
  brokers: string[],
  topic: string,
  records: number,
  recordSize: number,
  txId: string,
) {
  const args = [
    '-Xmx512m',
    '-cp',
    classpath,
    'org.apache.kafka.tools.ProducerPerformance',
    '--topic',
    topic,
    '--num-records',
    String(records),
    '--record-size',
    String(recordSize),
    '--throughput',
    '-1',
    '--producer-props',
    `bootstrap.servers=${brokers.join(',')}`,
    '--transactional-id',
    txId,
    '--transaction-duration-ms',
    '100',
  ]
  const out = await new Promise<string>((resolve, reject) => {
    execFile('java', args, { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ProducerPerformance failed: ${err.message}\n${stderr.slice(-2000)}`))
      else resolve(stdout)
    })
  })
  const lines = out.split('\n').filter((l) => /records\/sec/.test(l))
  const line = lines[lines.length - 1] ?? ''
  const m = /(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\)/.exec(line)
  if (!m) throw new Error(`ProducerPerformance: no final "records/sec" line in:\n${out.slice(-2000)}`)
  return {
    records: Number(m[1]),
    recordSize,
    recordsPerSec: Number(m[2]),
    mbPerSec: Number(m[3]),
    line: line.trim(),
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 1b. kafkajs at-least-once loop

export async function atLeastOnceLoop(kafka: Kafka, admin: Admin, name: string, workload: Cmd[]) {
  const input = `${name}.in`
  const output = `${name}.out`
  await createTopics(admin, [input, output])
  const preload = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await preload.connect()
  await produceAll(preload, input, workload.map(encodeCommand), 5000, 1)
  await preload.disconnect()
  const total = await topicEnd(admin, input)

  const producer = kafka.producer()
  await producer.connect()
  // Half a MiB per partition: a batch's copy (with its headers) stays below the broker's 1 MB message.max.bytes. At
  // 1 MiB a full fetch of a long backlog came back as one produce request the broker refused, and the loop stopped.
  const consumer = kafka.consumer({ groupId: name, maxWaitTimeInMs: 100, maxBytesPerPartition: 524_288 })
  let joinedAt = 0
  let finishedAt = 0
  let processed = 0
  let done!: () => void
  let failed!: (e: Error) => void
  const finished = new Promise<void>((resolve, reject) => {
    done = resolve
    failed = reject
  })
  consumer.on(consumer.events.GROUP_JOIN, () => {
    if (joinedAt === 0) joinedAt = now()
  })
  // A crash kafkajs does not restart after stops the loop: fail the run at once rather than wait out the timeout. A
  // retriable one (e.g. the group coordinator still loading on a fresh broker) is restarted by kafkajs.
  consumer.on(consumer.events.CRASH, (e) => {
    if (!e.payload.restart) failed(new Error(`at-least-once loop crashed: ${e.payload.error.message}`))
  })
  await consumer.connect()
  await consumer.subscribe({ topic: input, fromBeginning: true })
  await consumer.run({
    partitionsConsumedConcurrently: 6,
    eachBatchAutoResolve: true,
    eachBatch: async ({ batch }) => {
      // One output record per input record (same key and value), then the offsets (committed after the batch).
      const messages = batch.messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers }))
      await producer.send({ topic: output, messages })
      processed += messages.length
      if (processed >= total && finishedAt === 0) {
        finishedAt = now()
        done()
      }
    },
  })
  try {
    await withTimeout(finished, 600_000, 'at-least-once loop')
  } finally {
    await consumer.disconnect().catch(() => undefined)
    await producer.disconnect().catch(() => undefined)
  }
  const seconds = (finishedAt - joinedAt) / 1000
  return { commands: total, seconds, commandsPerSec: total / seconds }
}
