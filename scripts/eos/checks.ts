/** Checks (c) stores, (d) hanging transactions and (e) dead letters of the exactly-once verifier. */
import { randomUUID } from 'node:crypto'
import { execFile } from 'node:child_process'
import type { Admin, Kafka } from 'kafkajs'
import { ensureKafkaJars } from '../../src/devkafka/index.ts'
import type { Topology } from '../../src/topology/loader.ts'
import type { Malformed } from './malformed.ts'
import { readTopic } from './read-topic.ts'
import { forEachStore } from './stores.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** c. Every snapshot in every LevelDB equals the fold of the first `version` events of its aggregate. */
export async function verifyStores(
  kafka: Kafka,
  t: Topology,
  dir: string,
  workers: number,
): Promise<string[]> {
  const events = await readTopic(kafka, t.topics.events)
  const balances = new Map<string, number[]>() // balance after version i+1
  for (const e of events) {
    const v = e.value as { aggregateId: string; type: string; payload: { amount?: number } }
    const list = balances.get(v.aggregateId) ?? []
    const prev = list[list.length - 1] ?? 0
    list.push(
      v.type === 'MoneyDeposited'
        ? prev + v.payload.amount!
        : v.type === 'MoneyWithdrawn'
          ? prev - v.payload.amount!
          : prev,
    )
    balances.set(v.aggregateId, list)
  }
  const problems: string[] = []
  await forEachStore(t, dir, workers, 'store', problems, async (store, _p, storeDir) => {
    for await (const s of store.entries()) {
      if (s.version === 0) continue
      const expected = balances.get(s.aggregateId)?.[s.version - 1]
      const state = s.state as { balance: number }
      if (expected === undefined || expected !== state.balance) {
        problems.push(
          `store ${storeDir}: ${s.aggregateId} v${s.version} balance ${state.balance}, fold of its first ${s.version} events gives ${expected}`,
        )
      }
    }
  })
  return problems
}

/**
 * d. A transaction left open would hold the last stable offset back. Write a marker to every output
 * partition (outside any transaction) and require a read_committed reader to see each one.
 */
/**
 * d. A marker per output partition must become visible read_committed. Bounded at 120 s: after a broker
 * restart a partition's last stable offset was seen to trail its high watermark for 30-40 s with no open
 * transaction (Kafka's describe-producers agreed), while a transaction left open by a dead producer is
 * aborted by the coordinator after transaction.timeout.ms (10 s here); a truly hanging one never resolves.
 */
export async function findHangingTransactions(
  kafka: Kafka,
  admin: Admin,
  t: Topology,
  brokers: string[],
): Promise<{ problems: string[]; slowestSeconds: number }> {
  const topics = [t.topics.events, t.topics.changelog, t.topics.replies]
  const run = randomUUID()
  const producer = kafka.producer()
  await producer.connect()
  const expected = new Set<string>()
  for (const topic of topics) {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] })
    const partitions = meta.topics[0]!.partitions.map((p) => p.partitionId)
    await producer.send({
      topic,
      messages: partitions.map((partition) => {
        expected.add(`${topic}/${partition}`)
        return { partition, key: '\u0000verifier-marker', value: Buffer.from(`${run}:${topic}/${partition}`) }
      }),
    })
  }
  await producer.disconnect()
  const seen = new Set<string>()
  const checkStarted = Date.now()
  let slowestSeconds = 0
  // The group's offsets are set before it has a member (no seek on GROUP_JOIN: a consumer that missed a
  // marker that way once was not reproducible with a second consumer).
  const groupId = `verifier-${run}`
  for (const topic of topics) {
    const ends = await admin.fetchTopicOffsets(topic)
    await admin.setOffsets({
      groupId,
      topic,
      partitions: ends.map((e) => ({ partition: e.partition, offset: (BigInt(e.high) - 1n).toString() })),
    })
  }
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 200 })
  await consumer.connect()
  for (const topic of topics) await consumer.subscribe({ topic })
  await consumer.run({
    eachMessage: async ({ message }) => {
      const v = message.value?.toString() ?? ''
      if (v.startsWith(`${run}:`) && !seen.has(v.slice(run.length + 1))) {
        seen.add(v.slice(run.length + 1))
        slowestSeconds = Math.max(slowestSeconds, Math.round((Date.now() - checkStarted) / 100) / 10)
      }
    },
  })
  const deadline = Date.now() + 120_000
  while (seen.size < expected.size && Date.now() < deadline) await sleep(250)
  await consumer.disconnect()
  const missing = [...expected].filter((k) => !seen.has(k))
  const problems: string[] = []
  for (const k of missing) {
    // What the broker says about the partition's producers (open transactions and where they start).
    const [topic, partition] = [k.slice(0, k.lastIndexOf('/')), k.slice(k.lastIndexOf('/') + 1)]
    const described = await describeProducers(brokers[0]!, topic, partition).catch(
      (e: unknown) => `describe-producers failed: ${(e as Error).message}`,
    )
    problems.push(
      `hanging transaction: marker on ${k} not visible read_committed within 120 s; kafka-transactions describe-producers:\n${described}`,
    )
  }
  return { problems, slowestSeconds }
}

/** Kafka's own TransactionsCommand (kafka-transactions.sh describe-producers) for one partition. */
async function describeProducers(bootstrap: string, topic: string, partition: string): Promise<string> {
  const jars = await ensureKafkaJars()
  const args = [
    '-cp',
    jars.classpath,
    'org.apache.kafka.tools.TransactionsCommand',
    '--bootstrap-server',
    bootstrap,
    'describe-producers',
    '--topic',
    topic,
    '--partition',
    partition,
  ]
  return await new Promise((resolve) => {
    execFile('java', args, { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve(`${stdout}${stderr}${err ? ` (${err.message.split('\n')[0]})` : ''}`),
    )
  })
}

/** e. Each malformed record is in the dead-letter topic exactly once, with its reason. */
export async function verifyDeadLetters(
  kafka: Kafka,
  t: Topology,
  malformed: Malformed[],
): Promise<string[]> {
  const dlq = await readTopic(kafka, t.topics.deadLetters, { raw: true })
  const byValue = new Map<string, { count: number; reason: string | undefined }>()
  for (const r of dlq) {
    const k = (r.value as Buffer | null)?.toString('base64') ?? ''
    const e = byValue.get(k) ?? { count: 0, reason: r.headers['kd-error-code'] }
    e.count++
    byValue.set(k, e)
  }
  const problems: string[] = []
  for (const m of malformed) {
    const e = byValue.get(m.value?.toString('base64') ?? '')
    if (!e) problems.push(`malformed ${m.marker} (${m.reason}) not dead-lettered`)
    else if (e.count !== 1) problems.push(`malformed ${m.marker} dead-lettered ${e.count} times`)
    else if (e.reason !== m.reason)
      problems.push(`malformed ${m.marker}: reason ${e.reason}, expected ${m.reason}`)
  }
  return problems
}
