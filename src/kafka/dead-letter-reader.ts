/**
 * Reads a topology's dead letters (its `topics.deadLetters` topic): the last records of each partition,
 * read_committed, with their headers (the kd-* reason headers and the command's own), through Fetch requests of
 * a PartitionFetcher (no consumer group joined), transactions decided by a TransactionFilter. The DeadLetterStore of the worker's /dead-letters routes
 * (src/http/dead-letters.ts), matched structurally: src/kafka does not import the http layer.
 */
import { LazyAdmin } from './lazy-admin.ts'
import type { IHeaders } from 'kafkajs'
import type { KafkaConnection } from './client.ts'
import { retryMetadata } from './errors.ts'
import { PartitionFetcher, RESTORE_FETCH } from './partition-fetcher.ts'
import { TransactionFilter, type LogRecord } from './transactions.ts'

/** One dead letter as stored: where it is, its key, value and headers (as UTF-8 text). */
export interface StoredDeadLetter {
  partition: number
  offset: string
  timestamp: string
  key: Buffer | null
  value: Buffer | null
  headers: Record<string, string>
}

export interface DeadLetterPage {
  records: StoredDeadLetter[]
  /** Per partition: the log's first and next offsets when read. */
  partitions: { partition: number; start: string; end: string }[]
}

export class KafkaDeadLetters {
  private readonly admin: LazyAdmin
  private fetcher: PartitionFetcher | undefined

  constructor(private readonly kafka: KafkaConnection) {
    this.admin = new LazyAdmin(kafka)
  }

  /** The topic's partitions with their first and next offsets; undefined when the topic does not exist. */
  async offsets(topic: string): Promise<{ partition: number; low: bigint; high: bigint }[] | undefined> {
    const admin = await this.admin.get()
    const topics = await retryMetadata(() => admin.listTopics())
    if (!topics.includes(topic)) return undefined
    const offsets = await retryMetadata(() => admin.fetchTopicOffsets(topic))
    return offsets
      .map((o) => ({ partition: o.partition, low: BigInt(o.low), high: BigInt(o.high) }))
      .sort((a, b) => a.partition - b.partition)
  }

  /**
   * The last `limit` committed records of each partition (or of `partition` only), newest first within a
   * partition; `before` (an offset) pages back from there. Bounded by `timeoutMs`.
   */
  async list(
    topic: string,
    o: { limit: number; partition?: number; before?: bigint; timeoutMs: number },
  ): Promise<DeadLetterPage | undefined> {
    const offsets = await this.offsets(topic)
    if (offsets === undefined) return undefined
    const chosen = offsets.filter((p) => o.partition === undefined || p.partition === o.partition)
    const records: StoredDeadLetter[] = []
    for (const p of chosen) {
      const end = o.before !== undefined && o.before < p.high ? o.before : p.high
      // Aborted records and markers take offsets too: read a margin before the window, keep the last `limit`.
      const from = end - BigInt(o.limit * 2 + 8) > p.low ? end - BigInt(o.limit * 2 + 8) : p.low
      const read = await this.read(topic, p.partition, from, end, o.timeoutMs)
      records.push(...read.slice(-o.limit).reverse())
    }
    return {
      records,
      partitions: chosen.map((p) => ({ partition: p.partition, start: String(p.low), end: String(p.high) })),
    }
  }

  /** One committed record at (partition, offset); undefined when there is none (never written, aborted, deleted). */
  async one(
    topic: string,
    partition: number,
    offset: bigint,
    timeoutMs: number,
  ): Promise<StoredDeadLetter | undefined | 'no_topic'> {
    const offsets = await this.offsets(topic)
    if (offsets === undefined) return 'no_topic'
    const p = offsets.find((x) => x.partition === partition)
    if (p === undefined || offset < p.low || offset >= p.high) return undefined
    const read = await this.read(topic, partition, offset, offset + 1n, timeoutMs)
    return read.find((r) => r.offset === String(offset))
  }

  async close(): Promise<void> {
    const fetcher = this.fetcher
    this.fetcher = undefined
    await Promise.allSettled([this.admin.close(), fetcher?.close()])
  }

  /** The committed data records of [from, to), in offset order. */
  private async read(
    topic: string,
    partition: number,
    from: bigint,
    to: bigint,
    timeoutMs: number,
  ): Promise<StoredDeadLetter[]> {
    if (from >= to) return []
    this.fetcher ??= new PartitionFetcher(this.kafka, RESTORE_FETCH)
    const fetcher = this.fetcher
    const deadline = performance.now() + timeoutMs
    const filter = new TransactionFilter()
    if (from > 0n) filter.skipTo(from - 1n)
    const out: StoredDeadLetter[] = []
    let position = from
    for (;;) {
      if (performance.now() > deadline)
        throw new Error(`reading ${topic}[${partition}] did not reach offset ${to} within ${timeoutMs} ms`)
      const [fetched] = await fetcher.fetch([{ topic, partition, offset: position }])
      const all = fetched?.records ?? []
      const last = all[all.length - 1]
      if (last === undefined) {
        // Nothing more below the stable end (an open transaction holds the rest): what is decided is all there is.
        if (fetched === undefined || fetched.lastStableOffset <= position) break
        continue
      }
      position = BigInt(last.offset) + 1n
      // Past `to` only the markers matter: they decide the transactions of records before it.
      const wanted = all.filter((r) => r.control !== undefined || BigInt(r.offset) < to)
      for (const r of filter.push(wanted)) if (BigInt(r.offset) >= from) out.push(stored(partition, r))
      if (position >= to && filter.undecided === 0) break
    }
    return out
  }
}

function stored(partition: number, r: LogRecord): StoredDeadLetter {
  return {
    partition,
    offset: r.offset,
    timestamp: r.timestamp,
    key: r.key,
    value: r.value,
    headers: headerTexts(r.headers),
  }
}

function headerTexts(headers: IHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) {
    const first = Array.isArray(v) ? v[0] : v
    if (first === undefined) continue
    out[k] = typeof first === 'string' ? first : first.toString('utf8')
  }
  return out
}
