/**
 * Reads one partition of a changelog or events topic between two offsets, read_committed, without joining any
 * group: Fetch requests through the worker's PartitionFetcher (partition-fetcher.ts), transactions decided by a
 * TransactionFilter. The next fetch is sent while the previous chunk is written, so decoding overlaps the store's
 * writes (which LevelDB does off the event loop).
 */
import type { Admin } from 'kafkajs'
import type { ChangelogReader, ChangelogRecord } from '../runtime/ports.ts'
import { retryMetadata } from './errors.ts'
import type { FetchedPartition, PartitionFetcher } from './partition-fetcher.ts'
import { TransactionFilter } from './transactions.ts'

export class KafkaChangelogReader implements ChangelogReader {
  /**
   * `end`: 'high-watermark' for a task's restore (after its InitProducerId nothing can be open, see endOffset);
   * 'stable' for a standby, which tails a partition whose active task is writing (see PartitionFetcher.stableEnd).
   */
  constructor(
    private readonly fetcher: PartitionFetcher,
    private readonly admin: Admin,
    private readonly topic: string,
    private readonly partition: number,
    private readonly end: 'high-watermark' | 'stable' = 'high-watermark',
  ) {}

  /**
   * The high watermark: kafkajs' admin sends ListOffsets without an isolation level (0 = read_uncommitted),
   * so this is not the last stable offset. It is called after InitProducerId, when no transaction of the
   * only writer of this partition (this task's transactional id) can be open, so both are the same.
   */
  async endOffset(): Promise<bigint> {
    if (this.end === 'stable') return this.fetcher.stableEnd(this.topic, this.partition)
    const offsets = await retryMetadata(() => this.admin.fetchTopicOffsets(this.topic))
    const p = offsets.find((o) => o.partition === this.partition)
    if (!p) throw new Error(`changelog ${this.topic} has no partition ${this.partition}`)
    return BigInt(p.high)
  }

  async read(
    from: bigint,
    to: bigint,
    onRecords: (records: ChangelogRecord[]) => Promise<void>,
    timeoutMs: number,
  ): Promise<void> {
    if (from >= to) return
    await this.fetcher.withReadSlot(() => this.readNow(from, to, onRecords, timeoutMs))
  }

  private async readNow(
    from: bigint,
    to: bigint,
    onRecords: (records: ChangelogRecord[]) => Promise<void>,
    timeoutMs: number,
  ): Promise<void> {
    const deadline = performance.now() + timeoutMs
    const filter = new TransactionFilter()
    if (from > 0n) filter.skipTo(from - 1n)
    let position = from
    const fetchAt = (offset: bigint) => {
      const p = this.fetcher
        .fetch([{ topic: this.topic, partition: this.partition, offset }])
        .then((r) => r[0])
      p.catch(() => undefined) // awaited below; a prefetch left behind by a failed write must not go unhandled
      return p
    }
    let next: Promise<FetchedPartition | undefined> = fetchAt(position)
    while (position < to) {
      if (performance.now() > deadline) {
        throw new Error(
          `restore of ${this.topic}[${this.partition}] from ${from} to ${to} did not finish within ${timeoutMs} ms (at ${position})`,
        )
      }
      const fetched = await next
      const all = fetched?.records ?? []
      const tail = all[all.length - 1]
      const raw =
        tail === undefined || BigInt(tail.offset) < to ? all : all.filter((r) => BigInt(r.offset) < to)
      const last = raw.length === 0 ? undefined : BigInt(raw[raw.length - 1]!.offset)
      if (last !== undefined) position = last + 1n
      // Prefetch: the next chunk is decoded while this one is written.
      if (position < to) next = fetchAt(position)
      const released = filter.push(raw)
      if (released.length > 0)
        await onRecords(
          released.map((r) => ({
            offset: BigInt(r.offset),
            key: r.key === null ? null : r.key.toString('utf8'),
            value: r.value,
          })),
        )
    }
  }
}

/** The group's committed offset (next to read) for one partition. Read only AFTER the producer's init. */
export async function readCommittedOffset(
  admin: Admin,
  groupId: string,
  topic: string,
  partition: number,
): Promise<bigint | undefined> {
  const res = await retryMetadata(() => admin.fetchOffsets({ groupId, topics: [topic] }))
  const p = res.find((t) => t.topic === topic)?.partitions.find((x) => x.partition === partition)
  if (!p || p.offset === '-1' || p.offset === '') return undefined
  return BigInt(p.offset)
}
