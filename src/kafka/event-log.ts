/**
 * The sequential read of a topology's events topic: every committed event in commit order per partition, from a
 * position token (domain/position.ts), for the Node client's readAll() and subscribe() and the CLI's
 * `decider events --all`. read_committed, decided from the transaction markers (transactions.ts), not by kafkajs'
 * filter. One consumer in a private group (`<groupPrefix>-events-<uuid>`, deleted afterwards), so no worker's
 * group is joined.
 *
 * Bounded: `onEvents` is awaited before the next fetch is handed over (kafkajs fetches again only after eachBatch
 * returned), so a slow handler slows the read instead of filling memory. A rejoin of the private group (the
 * handler held a batch longer than the session timeout) ends the read with ReaderRejoinedError: the filters'
 * view of open transactions would not survive the seek back, and the caller resumes from its last position.
 */
import { randomUUID } from 'node:crypto'
import type { Kafka } from 'kafkajs'
import { decode } from '../domain/codec.ts'
import { isReservedKey, type EventEnvelope } from '../domain/envelopes.ts'
import { decodePosition, encodePosition } from '../domain/position.ts'
import { ReaderRejoinedError } from '../errors.ts'
import { retryMetadata } from './errors.ts'
import { CommittedRecordsReader, type LogRecord, type TransactionFilter } from './transactions.ts'

export interface LoggedEvent {
  partition: number
  offset: bigint
  event: EventEnvelope
  /** Token of the position right after this event: a read from it delivers what came after, nothing before. */
  position: string
}

export interface EventLogReadOptions {
  topic: string
  /** Position token; undefined = every partition from its start. */
  from?: string
  /** false: stop at the end every partition had when the read started; true: follow until `signal` aborts. */
  follow: boolean
  signal?: AbortSignal
  /** Names the private group. */
  groupPrefix: string
  /** A read that does not follow fails when it makes no progress (no record, no marker) for this long. */
  timeoutMs?: number
  onEvents(events: LoggedEvent[]): Promise<void>
}

/** Reads; resolves with the token of the position reached (where the next read should start). */
export async function readEventLog(kafka: Kafka, o: EventLogReadOptions): Promise<string> {
  const positions = decodePosition(o.from)
  const admin = kafka.admin()
  await admin.connect()
  const groupId = `${o.groupPrefix}-events-${randomUUID()}`
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
    // Where to start: the token's offset, not below the partition's start (nothing is deleted from an events
    // topic, retention.ms=-1, but a token from another cluster or a truncated topic must not hang the read).
    const pending = new Map<number, bigint>() // partition -> last offset to reach (not following)
    for (const p of offsets) {
      const low = BigInt(p.low)
      const start = positions.get(p.partition) ?? low
      positions.set(p.partition, start < low ? low : start)
      if (!o.follow && BigInt(p.high) > positions.get(p.partition)!)
        pending.set(p.partition, BigInt(p.high) - 1n)
    }
    if (!o.follow && pending.size === 0) return encodePosition(positions)
    if (o.signal?.aborted) return encodePosition(positions)
    o.signal?.addEventListener('abort', onAbort, { once: true })

    const onCommitted = async (partition: number, records: LogRecord[], f: TransactionFilter) => {
      arm()
      const events: LoggedEvent[] = []
      const from = positions.get(partition) ?? 0n
      for (const r of records) {
        const offset = BigInt(r.offset)
        if (offset < from || r.value === null || r.key === null || isReservedKey(r.key.toString('utf8')))
          continue
        let event: EventEnvelope
        try {
          event = decode(r.value) as EventEnvelope
        } catch {
          continue // not an event a worker wrote
        }
        positions.set(partition, offset + 1n)
        events.push({ partition, offset, event, position: encodePosition(positions) })
      }
      // Past markers and aborted records too, but never past a record whose transaction is still open.
      const next = f.firstUndecided ?? f.position + 1n
      if (next > (positions.get(partition) ?? 0n)) positions.set(partition, next)
      if (events.length > 0) await o.onEvents(events)
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
    await consumer.subscribe({ topic: o.topic })
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: true, eachBatch: reader.eachBatch })
    await finished
    return encodePosition(positions)
  } finally {
    clearTimeout(timer)
    o.signal?.removeEventListener('abort', onAbort)
    await consumer.disconnect().catch(() => undefined)
    await admin.deleteGroups([groupId]).catch(() => undefined)
    await admin.disconnect().catch(() => undefined)
  }
}
