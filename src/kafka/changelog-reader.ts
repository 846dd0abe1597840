/**
 * Reads one changelog partition between two offsets, read_committed, without joining the processing group.
 * kafkajs has no manual assign(): a short-lived consumer in a private group (one per restore) subscribes to
 * the changelog, pauses every partition but ours, and seeks. It joins only when a restore is really needed
 * (the task skips it when its checkpoint is at the end), and its group is deleted afterwards.
 */
import { randomUUID } from 'node:crypto'
import type { Admin, Kafka } from 'kafkajs'
import type { Logger } from 'pino'
import type { ChangelogReader, ChangelogRecord } from '../runtime/ports.ts'
import { retryMetadata } from './errors.ts'

export class KafkaChangelogReader implements ChangelogReader {
  constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly topic: string,
    private readonly partition: number,
    private readonly groupPrefix: string,
    private readonly logger: Logger,
  ) {}

  /**
   * The high watermark: kafkajs' admin sends ListOffsets without an isolation level (0 = read_uncommitted),
   * so this is not the last stable offset. It is called after InitProducerId, when no transaction of the
   * only writer of this partition (this task's transactional id) can be open, so both are the same.
   */
  async endOffset(): Promise<bigint> {
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
    const groupId = `${this.groupPrefix}-restore-${this.partition}-${randomUUID()}`
    const consumer = this.kafka.consumer({
      groupId,
      readUncommitted: false,
      maxBytesPerPartition: 8 * 1024 * 1024,
      maxWaitTimeInMs: 100,
      allowAutoTopicCreation: false,
    })
    const target = to - 1n
    let done!: () => void
    let fail!: (e: unknown) => void
    const finished = new Promise<void>((res, rej) => ((done = res), (fail = rej)))
    let position = from - 1n
    const others: number[] = []

    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const assigned = e.payload.memberAssignment[this.topic] ?? []
      others.length = 0
      others.push(...assigned.filter((p) => p !== this.partition))
      if (others.length > 0) consumer.pause([{ topic: this.topic, partitions: others }])
      consumer.seek({ topic: this.topic, partition: this.partition, offset: from.toString() })
    })
    // END_BATCH_PROCESS also fires for batches that held only transaction markers (never given to eachBatch).
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      if (e.payload.partition !== this.partition) return
      const last = BigInt(e.payload.lastOffset)
      if (last > position) position = last
      if (position >= target) done()
    })
    consumer.on(consumer.events.CRASH, (e) => fail(e.payload.error))

    const timer = setTimeout(
      () =>
        fail(
          new Error(
            `restore of ${this.topic}[${this.partition}] from ${from} to ${to} did not finish within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    )
    try {
      await consumer.connect()
      await consumer.subscribe({ topic: this.topic })
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch }) => {
          if (batch.partition !== this.partition) return
          const records: ChangelogRecord[] = []
          for (const m of batch.messages) {
            const offset = BigInt(m.offset)
            if (offset >= to) break
            records.push({ offset, key: m.key === null ? null : m.key.toString('utf8'), value: m.value })
          }
          if (records.length > 0) await onRecords(records)
        },
      })
      await finished
    } finally {
      clearTimeout(timer)
      await consumer.disconnect().catch(() => undefined)
      this.admin
        .deleteGroups([groupId])
        .catch((e: unknown) => this.logger.debug({ err: e, groupId }, 'could not delete restore group'))
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
