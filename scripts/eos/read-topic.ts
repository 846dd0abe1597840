/** Readers of the topics: a whole topic read_committed (or not), the replies so far, the input commands as written. */
import type { EachBatchPayload, Kafka } from 'kafkajs'
import { Packr } from 'msgpackr'
import { randomUUID } from 'node:crypto'
import {
  CommittedRecordsReader,
  logRecordsOf,
  TransactionFilter,
  type LogRecord,
} from '../../src/kafka/transactions.ts'
import type { Cmd } from './workload.ts'

const packr = new Packr({ useRecords: false, mapsAsObjects: true })

export interface Rec {
  partition: number
  offset: string
  producerId?: string
  epoch?: number
  control?: 'commit' | 'abort'
  key: string | null
  value: unknown
  headers: Record<string, string>
}

/**
 * Reads a whole topic up to its current end, bounded by timeoutMs. Committed records only (unless
 * readUncommitted), decided here from the transaction markers (src/kafka/transactions.ts): kafkajs'
 * own read_committed filter lets aborted records through when several producers write one partition.
 * Records of a transaction still open at the end are left out, as read_committed would (check (d) of the
 * verifier finds transactions that stay open).
 */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  opts: { readUncommitted?: boolean; withControl?: boolean; timeoutMs?: number; raw?: boolean } = {},
): Promise<Rec[]> {
  const admin = kafka.admin()
  await admin.connect()
  const ends = await admin.fetchTopicOffsets(topic)
  await admin.disconnect()
  const pending = new Map(
    ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high) - 1n]),
  )
  const out: Rec[] = []
  if (pending.size === 0) return out
  const filters = new Map<number, TransactionFilter>()
  const groupId = `reader-${randomUUID()}`
  const consumer = kafka.consumer({ groupId, readUncommitted: true, maxWaitTimeInMs: 100 })
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  let crash!: (e: unknown) => void
  const failed = new Promise<never>((_, rej) => (crash = rej))
  failed.catch(() => undefined)
  const decode = (partition: number, m: LogRecord): Rec => {
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(m.headers)) if (v !== undefined) headers[k] = String(v)
    const ct = headers['content-type'] ?? ''
    let value: unknown = m.value
    if (!opts.raw && m.value) {
      try {
        value = ct.includes('json') ? JSON.parse(m.value.toString()) : packr.unpack(m.value)
      } catch {
        value = m.value // not decodable (e.g. a malformed command): keep the bytes
      }
    }
    return {
      partition,
      offset: m.offset,
      key: m.key?.toString() ?? null,
      value,
      headers,
      producerId: m.producerId,
      epoch: m.producerEpoch,
      ...(m.control ? { control: m.control } : {}),
    }
  }
  const reached = (p: number, position: bigint) => {
    const target = pending.get(p)
    if (target !== undefined && position >= target) pending.delete(p)
    if (pending.size === 0) done()
  }
  // A consumer that restarts (e.g. NOT_COORDINATOR while a broker is down) re-reads from its last commit:
  // the filter ignores offsets it has seen, so a record is kept once.
  let eachBatch: (payload: EachBatchPayload) => Promise<void>
  if (opts.readUncommitted) {
    eachBatch = async ({ batch }) => {
      const p = batch.partition
      let f = filters.get(p)
      if (!f) filters.set(p, (f = new TransactionFilter()))
      const all = logRecordsOf(batch)
      for (const m of all)
        if ((m.control === undefined || opts.withControl) && BigInt(m.offset) > f.position)
          out.push(decode(p, m))
      f.push(all)
      reached(p, f.position)
    }
    // A fetch of markers only never reaches eachBatch (they are left out of the dump then).
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) =>
      reached(e.payload.partition, BigInt(e.payload.lastOffset)),
    )
  } else {
    const reader = new CommittedRecordsReader(consumer, topic, (p, records, f) => {
      for (const m of records) out.push(decode(p, m))
      reached(p, f.position)
    })
    reader.listen()
    eachBatch = reader.eachBatch
  }
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({ eachBatchAutoResolve: true, eachBatch })
  const timeout = opts.timeoutMs ?? 60_000
  let timer: NodeJS.Timeout | undefined
  consumer.on(consumer.events.CRASH, (e) => crash(e.payload.error))
  try {
    timer = setTimeout(
      () =>
        crash(
          new Error(
            `reading ${topic} did not finish in ${timeout} ms (partitions left: ${[...pending.keys()].join(',')})`,
          ),
        ),
      timeout,
    )
    await Promise.race([finished, failed])
  } finally {
    clearTimeout(timer)
    await consumer.disconnect()
  }
  out.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))
  return out
}

/** Waits until the replies topic holds at least `n` committed replies; bounded. */
export async function waitForReplies(
  kafka: Kafka,
  topic: string,
  n: number,
  timeoutMs: number,
): Promise<Rec[]> {
  const deadline = Date.now() + timeoutMs
  let replies: Rec[] = []
  while (Date.now() < deadline) {
    replies = await readTopic(kafka, topic)
    if (replies.length >= n) return replies
    await new Promise((r) => setTimeout(r, 1000))
  }
  throw new Error(`only ${replies.length} of ${n} replies after ${timeoutMs} ms`)
}

/**
 * The commands as they are on the commands topic (only ids of `cmds`), in offset order per partition — so
 * the model judges every input RECORD, including any the test's producer wrote twice.
 */
export async function inputCommands(kafka: Kafka, topic: string, cmds: Cmd[]): Promise<Cmd[]> {
  const ids = new Set(cmds.map((c) => c.commandId))
  const records = await readTopic(kafka, topic)
  records.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))
  const out: Cmd[] = []
  for (const r of records) {
    const v = r.value as {
      commandId: string
      type: Cmd['type']
      payload: Record<string, unknown>
      expectedVersion?: number
    }
    if (typeof v !== 'object' || v === null || Buffer.isBuffer(v) || !ids.has(v.commandId) || r.key === null)
      continue
    out.push({
      aggregateId: r.key,
      commandId: v.commandId,
      type: v.type,
      payload: v.payload,
      ...(v.expectedVersion !== undefined ? { expectedVersion: v.expectedVersion } : {}),
    })
  }
  return out
}
