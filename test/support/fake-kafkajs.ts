/**
 * A stand-in for a kafkajs consumer (what src/kafka/consumer-loop.ts uses of it), for unit tests without a broker:
 * it records seeks, pauses and resolved offsets, and lets the test emit events and hand batches to eachBatch.
 */
import type { EachBatchPayload, Kafka } from 'kafkajs'

const EVENTS = {
  GROUP_JOIN: 'consumer.group_join',
  REBALANCING: 'consumer.rebalancing',
  END_BATCH_PROCESS: 'consumer.end_batch_process',
  CRASH: 'consumer.crash',
} as const

export class FakeConsumer {
  readonly events = EVENTS
  readonly calls: string[] = []
  /** The offset kafkajs would fetch next, per partition (resolved + 1, or a pending seek). */
  readonly fetchFrom = new Map<number, bigint>()
  private readonly listeners = new Map<string, ((e: { payload: unknown }) => void)[]>()
  private eachBatch: ((p: EachBatchPayload) => Promise<void>) | undefined
  private readonly pendingSeek = new Set<number>()

  on(event: string, fn: (e: { payload: unknown }) => void): void {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), fn])
  }
  emit(event: string, payload: unknown): void {
    for (const fn of this.listeners.get(event) ?? []) fn({ payload })
  }
  async connect(): Promise<void> {}
  async subscribe(): Promise<void> {}
  async run(o: { eachBatch: (p: EachBatchPayload) => Promise<void> }): Promise<void> {
    this.eachBatch = o.eachBatch
  }
  async disconnect(): Promise<void> {
    this.calls.push('disconnect')
  }
  seek({ partition, offset }: { topic: string; partition: number; offset: string }): void {
    this.calls.push(`seek ${partition}@${offset}`)
    this.fetchFrom.set(partition, BigInt(offset))
    this.pendingSeek.add(partition)
  }
  pause(tps: { partitions: number[] }[]): void {
    this.calls.push(`pause ${tps.flatMap((t) => t.partitions).join(',')}`)
  }
  resume(tps: { partitions: number[] }[]): void {
    this.calls.push(`resume ${tps.flatMap((t) => t.partitions).join(',')}`)
  }

  /** Hands a fetch of `raw` kafkajs messages from `fetchedOffset` to eachBatch, as kafkajs' runner would. */
  async batch(partition: number, fetchedOffset: bigint, raw: object[]): Promise<void> {
    this.pendingSeek.delete(partition) // the fetch applied the seek
    const batch = {
      topic: 't',
      partition,
      fetchedOffset: String(fetchedOffset),
      highWatermark: String(fetchedOffset + BigInt(raw.length)),
      rawMessages: raw,
      messages: [],
    }
    await this.eachBatch!({
      batch,
      resolveOffset: (o: string) => {
        if (!this.pendingSeek.has(partition)) this.fetchFrom.set(partition, BigInt(o) + 1n)
      },
      heartbeat: async () => undefined,
      isRunning: () => true,
      isStale: () => this.pendingSeek.has(partition),
    } as unknown as EachBatchPayload)
  }

  asKafka(): Kafka {
    return { consumer: () => this } as unknown as Kafka
  }
}

/** A kafkajs raw message of a fetched batch. */
export function rawMessage(
  offset: number,
  producerId: string,
  o: { inTransaction?: boolean; control?: 'commit' | 'abort'; value?: string } = {},
): object {
  const key = o.control ? Buffer.from([0, 0, 0, o.control === 'commit' ? 1 : 0]) : Buffer.from(`k${offset}`)
  return {
    offset: String(offset),
    key,
    value: o.control ? null : Buffer.from(o.value ?? `v${offset}`),
    headers: {},
    timestamp: '0',
    isControlRecord: o.control !== undefined,
    batchContext: { producerId, producerEpoch: 0, inTransaction: o.inTransaction ?? true },
  }
}
