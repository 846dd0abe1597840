/**
 * The committed records of every partition of a topic, read_committed, decided from the transaction markers
 * (transactions.ts), not by kafkajs' filter: the loop under the sequential event read (event-log.ts) and the SQL
 * tables (sql-source.ts). One consumer in a private group (`<groupPrefix>-<uuid>`, deleted afterwards), so
 * no worker's group is joined.
 *
 * Bounded: `onRecords` is awaited before the next fetch is handed over (kafkajs fetches again only after
 * eachBatch returned), so a slow handler slows the read instead of filling memory. A handler that throws ends the
 * read with its error. A rejoin of the private group (the handler held a batch longer than the session timeout)
 * ends the read with ReaderRejoinedError: the filters' view of open transactions would not survive the seek back,
 * and the caller resumes from its last position.
 */
import { randomUUID } from 'node:crypto'
import type { Kafka } from 'kafkajs'
import { ReaderRejoinedError } from '../errors.ts'
import { retryMetadata } from './errors.ts'
import { CommittedRecordsReader, type LogRecord, type TransactionFilter } from './transactions.ts'

export interface CommittedLogReadOptions {
  topic: string
  /**
   * Next offset to read per partition (a partition not named: from its start; never below it). The read moves it
   * on past what it read, markers and aborted records included, never past a record whose transaction is open;
   * the handler may move it per record as it goes (the sequential read's position tokens).
   */
  positions: Map<number, bigint>
  /** false: stop at the end every partition had when the read started; true: follow until `signal` aborts. */
  follow: boolean
  /** Ends the read (it resolves; the caller tells an abort from the end by the signal). */
  signal?: AbortSignal
  /** Names the private group: `<groupPrefix>-<uuid>`. */
  groupPrefix: string
  /** A read that does not follow fails when it makes no progress (no record, no marker) for this long. */
  timeoutMs?: number
  /** The committed data records of one fetch of one partition at or after its position, in offset order. */
  onRecords(partition: number, records: LogRecord[]): Promise<void> | void
}

/** Reads; resolves when done (`positions` then holds where the next read should start). */
export async function readCommittedLog(kafka: Kafka, o: CommittedLogReadOptions): Promise<void> {
  const { positions } = o
  const admin = kafka.admin()
  await admin.connect()
  const groupId = `${o.groupPrefix}-${randomUUID()}`
  const consumer = kafka.consumer({
    groupId,
    readUncommitted: true,
    maxBytesPerPartition: 4 * 1024 * 1024,
    maxWaitTimeInMs: 200,
    allowAutoTopicCreation: false,
  })
  let done!: () => void
  let fail!: (e: unknown) => void
  const finished = new Promise<void>((res, rej) => ((done = res), (fail = rej)))
  let timer: NodeJS.Timeout | undefined
  const arm = () => {
    if (o.follow || o.timeoutMs === undefined) return
    clearTimeout(timer)
    timer = setTimeout(
      () => fail(new Error(`reading ${o.topic} made no progress for ${o.timeoutMs} ms before its end`)),
      o.timeoutMs,
    )
  }
  arm()
  const onAbort = () => done()
  try {
    const offsets = await retryMetadata(() => admin.fetchTopicOffsets(o.topic))
    // Where to start: the given offset, not below the partition's start (nothing is deleted from an events
    // topic, retention.ms=-1, but a token from another cluster or a truncated topic must not hang the read).
    const pending = new Map<number, bigint>() // partition -> last offset to reach (not following)
    for (const p of offsets) {
      const low = BigInt(p.low)
      const start = positions.get(p.partition) ?? low
      positions.set(p.partition, start < low ? low : start)
      if (!o.follow && BigInt(p.high) > positions.get(p.partition)!)
        pending.set(p.partition, BigInt(p.high) - 1n)
    }
    if (!o.follow && pending.size === 0) return
    if (o.signal?.aborted) return
    o.signal?.addEventListener('abort', onAbort, { once: true })

    const onCommitted = async (partition: number, records: LogRecord[], f: TransactionFilter) => {
      arm()
      const from = positions.get(partition) ?? 0n
      const fresh = records.filter((r) => BigInt(r.offset) >= from)
      if (fresh.length > 0) {
        try {
          await o.onRecords(partition, fresh)
        } catch (e) {
          fail(e)
          return
        }
      }
      // Past markers and aborted records too, but never past a record whose transaction is still open.
      const next = f.firstUndecided ?? f.position + 1n
      if (next > (positions.get(partition) ?? 0n)) positions.set(partition, next)
      const target = pending.get(partition)
      if (target !== undefined && f.position >= target && f.undecided === 0) {
        pending.delete(partition)
        if (pending.size === 0) done()
      }
    }
    const reader = new CommittedRecordsReader(consumer, o.topic, onCommitted)
    reader.listen()
    let joins = 0
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      if (++joins > 1) {
        fail(
          new ReaderRejoinedError(
            `the reader of ${o.topic} lost its group membership; resume from its position`,
          ),
        )
        return
      }
      for (const p of e.payload.memberAssignment[o.topic] ?? [])
        consumer.seek({ topic: o.topic, partition: p, offset: (positions.get(p) ?? 0n).toString() })
    })
    consumer.on(consumer.events.CRASH, (e) => fail(e.payload.error))
    await consumer.connect()
    await retryMetadata(() => consumer.subscribe({ topic: o.topic })) // a fresh topic may be unknown for a moment
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: true, eachBatch: reader.eachBatch })
    await finished
  } finally {
    clearTimeout(timer)
    o.signal?.removeEventListener('abort', onAbort)
    await consumer.disconnect().catch(() => undefined)
    await admin.deleteGroups([groupId]).catch(() => undefined)
    await admin.disconnect().catch(() => undefined)
  }
}
