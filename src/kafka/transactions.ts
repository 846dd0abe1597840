/**
 * Transaction semantics done here, not by kafkajs.
 *
 * kafkajs 2.2.4's read_committed filter (consumer/filterAbortedMessages.js) moves at most one entry of the
 * fetch's aborted-transactions list per record, and takes that list to be ordered by first offset while the
 * broker sends it in the order the transactions ended, so when several aborted transactions overlap a fetch
 * (many producers writing one partition: replies, or commands from transactional upstreams) records of an
 * aborted transaction are handed out as if committed. It also hides control records, so a reader cannot
 * tell "read to the end" from "the end is not stable yet".
 *
 * Readers that must be exact read read_uncommitted and pass every record of the log, control records
 * included, through a TransactionFilter: a transactional record is released when its producer's COMMIT
 * marker arrives, dropped on ABORT; a non-transactional record is released at once. One filter per partition.
 */
import type { Batch, Consumer, EachBatchPayload, IHeaders } from 'kafkajs'

export interface LogRecord {
  offset: string
  key: Buffer | null
  value: Buffer | null
  headers: IHeaders
  /** Record timestamp, epoch ms as a string. */
  timestamp: string
  producerId: string
  producerEpoch: number
  inTransaction: boolean
  /** Set on a transaction marker (a control record). */
  control?: 'commit' | 'abort'
}

interface KafkajsRawMessage {
  offset: string
  key: Buffer | null
  value: Buffer | null
  headers?: IHeaders
  timestamp?: string
  isControlRecord?: boolean
  batchContext?: { producerId: string; producerEpoch: number; inTransaction: boolean }
}

/**
 * Every record of a fetched batch at or after the fetch offset, control records included. kafkajs keeps them
 * in Batch#rawMessages (not in its typings); a missing field fails loudly rather than reading wrongly.
 */
export function logRecordsOf(batch: Batch): LogRecord[] {
  const b = batch as unknown as { rawMessages?: KafkajsRawMessage[]; fetchedOffset?: string }
  if (!Array.isArray(b.rawMessages) || b.fetchedOffset === undefined) {
    throw new Error(
      'kafkajs Batch has no rawMessages/fetchedOffset: this kafkajs version is not supported by the transaction reader (pinned: 2.2.4)',
    )
  }
  const from = BigInt(b.fetchedOffset)
  const out: LogRecord[] = []
  // Offsets ascend: only the first record batch can start before the fetch offset (no BigInt per record after it).
  let before = true
  for (const m of b.rawMessages) {
    if (before && BigInt(m.offset) < from) continue
    before = false
    const ctx = m.batchContext
    if (ctx === undefined)
      throw new Error(`kafkajs record ${m.offset} has no batchContext: unsupported kafkajs version`)
    const r: LogRecord = {
      offset: m.offset,
      key: m.key,
      value: m.value,
      headers: m.headers ?? {},
      timestamp: m.timestamp ?? '-1',
      producerId: ctx.producerId,
      producerEpoch: ctx.producerEpoch,
      inTransaction: ctx.inTransaction,
    }
    if (m.isControlRecord) r.control = controlType(m.key, m.offset)
    out.push(r)
  }
  return out
}

/** The offset a fetched batch was requested from (kafkajs keeps it in Batch#fetchedOffset, not in its typings). */
export function fetchedOffsetOf(batch: Batch): bigint {
  const offset = (batch as unknown as { fetchedOffset?: string }).fetchedOffset
  if (offset === undefined) throw new Error('kafkajs Batch has no fetchedOffset (pinned: 2.2.4)')
  return BigInt(offset)
}

/** A control record's key: int16 version, int16 type (0 = ABORT, 1 = COMMIT). */
function controlType(key: Buffer | null, offset: string): 'commit' | 'abort' {
  if (key === null || key.length < 4) throw new Error(`control record at offset ${offset} has no valid key`)
  const type = key.readInt16BE(2)
  if (type === 0) return 'abort'
  if (type === 1) return 'commit'
  throw new Error(`control record at offset ${offset} has unknown type ${type}`)
}

/** Transaction bookkeeping for one partition, fed in offset order. */
export class TransactionFilter {
  private readonly open = new Map<string, LogRecord[]>()
  private last = -1n
  private lastData = -1n

  /** Offset of the last data record fed; -1 before any. */
  get lastDataOffset(): bigint {
    return this.lastData
  }

  /**
   * Moves the position past records that were not fed (transaction markers kafkajs never hands to eachBatch).
   * Only valid when nothing is undecided: markers can then decide nothing this filter holds.
   */
  skipTo(offset: bigint): void {
    if (this.undecided > 0) throw new Error('skipTo with undecided records would lose their markers')
    if (offset > this.last) this.last = offset
  }

  /** Last offset fed (data or marker); -1 before any. */
  get position(): bigint {
    return this.last
  }

  /** Data records seen whose transaction has no marker yet. */
  get undecided(): number {
    let n = 0
    for (const list of this.open.values()) n += list.length
    return n
  }

  /** Offset of the first undecided record, if any: everything before it is decided. */
  get firstUndecided(): bigint | undefined {
    let min: bigint | undefined
    for (const list of this.open.values()) {
      const o = list[0] && BigInt(list[0].offset)
      if (o !== undefined && (min === undefined || o < min)) min = o
    }
    return min
  }

  /**
   * Feeds records (offset order; offsets already fed are ignored, so a re-fetch is harmless). Returns the data
   * records now known to be committed, in offset order.
   */
  push(records: readonly LogRecord[]): LogRecord[] {
    const released: LogRecord[] = []
    for (const r of records) {
      const o = BigInt(r.offset)
      if (o <= this.last) continue
      this.last = o
      if (r.control === undefined) this.lastData = o
      if (r.control !== undefined) {
        const list = this.open.get(r.producerId)
        this.open.delete(r.producerId)
        if (r.control === 'commit' && list) released.push(...list)
      } else if (!r.inTransaction) {
        released.push(r)
      } else {
        let list = this.open.get(r.producerId)
        if (!list) this.open.set(r.producerId, (list = []))
        list.push(r)
      }
    }
    if (released.length > 1) released.sort((a, b) => (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1))
    return released
  }
}

/**
 * Committed records of a topic through a kafkajs consumer created with readUncommitted: true.
 *
 * kafkajs never calls eachBatch for a fetch that returned only transaction markers (it resolves the offset
 * and emits END_BATCH_PROCESS with batchSize 0). When such a fetch ends a transaction this reader holds, it
 * seeks the partition back to its last data record, so the next fetch carries that record and the markers
 * after it to eachBatch. Wire `eachBatch` into consumer.run and call `listen()` before run.
 */
export class CommittedRecordsReader {
  private readonly filters = new Map<number, TransactionFilter>()

  constructor(
    private readonly consumer: Consumer,
    private readonly topic: string,
    private readonly onCommitted: (
      partition: number,
      records: LogRecord[],
      filter: TransactionFilter,
    ) => Promise<void> | void,
  ) {}

  filter(partition: number): TransactionFilter {
    let f = this.filters.get(partition)
    if (!f) this.filters.set(partition, (f = new TransactionFilter()))
    return f
  }

  listen(): void {
    this.consumer.on(this.consumer.events.END_BATCH_PROCESS, (e) => {
      const { topic, partition, batchSize, firstOffset, lastOffset } = e.payload
      if (topic !== this.topic || batchSize !== 0 || firstOffset === null) return
      const f = this.filter(partition)
      const last = BigInt(lastOffset)
      if (last <= f.position) return
      if (f.undecided === 0) {
        f.skipTo(last)
        Promise.resolve(this.onCommitted(partition, [], f)).catch(() => undefined)
      } else {
        this.consumer.seek({ topic: this.topic, partition, offset: f.lastDataOffset.toString() })
      }
    })
  }

  readonly eachBatch = async ({ batch }: EachBatchPayload): Promise<void> => {
    if (batch.topic !== this.topic) return
    const f = this.filter(batch.partition)
    await this.onCommitted(batch.partition, f.push(logRecordsOf(batch)), f)
  }
}
