/**
 * The consumer loop of one topology (Kafka Streams' StreamThread, minus the tasks): one kafkajs consumer in the
 * topology's group, subscribed to the commands topic. It maps kafkajs events and batches to the task manager's
 * terms and implements the ConsumerControl port (pause / resume / seek) the task manager drives it through.
 *
 * kafkajs has no revoke callback and no manual assign, so assignment changes come from GROUP_JOIN (which carries
 * the whole assignment; in-flight eachBatch calls finish before a rejoin). Offsets are committed only inside
 * transactions (autoCommit off, no auto-resolve): the position moves on with resolveOffset after each commit.
 */
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs'
import type { Logger } from 'pino'
import type { BatchHooks } from '../runtime/task-manager.ts'
import type { ConsumerControl, HeaderValue, InputRecord } from '../runtime/ports.ts'

/** What the loop calls: the task manager (and, for observation, the worker). */
export interface ConsumerLoopHandler {
  assigned(partitions: readonly number[]): void
  handleBatch(partition: number, records: readonly InputRecord[], hooks: BatchHooks): Promise<void>
  /** The RUNNING task's next input offset, undefined when the partition has none (then no position is reported). */
  position(partition: number): bigint | undefined
  groupLost(): void
}

export interface ConsumerLoopListener {
  /** kafkajs saw the group rebalancing and is rejoining (an `assigned` follows). */
  rebalancing?(): void
  /** A group join delivered this assignment. */
  rebalanced?(partitions: readonly number[]): void
  /** After a fetched batch of a RUNNING task: the partition's high watermark and our position past it. */
  positionAfterBatch?(partition: number, highWatermark: bigint, position: bigint): void
}

export interface ConsumerLoopOptions {
  kafka: Kafka
  groupId: string
  topic: string
  partitions: number
  maxBytesPerPartition: number
  sessionTimeoutMs: number
  heartbeatIntervalMs: number
  rebalanceTimeoutMs: number
  logger: Logger
  listener?: ConsumerLoopListener
}

export class KafkaConsumerLoop implements ConsumerControl {
  private consumer: Consumer | undefined
  private handler: ConsumerLoopHandler | undefined

  constructor(private readonly o: ConsumerLoopOptions) {}

  pause(partitions: readonly number[]): void {
    this.consumer?.pause([{ topic: this.o.topic, partitions: [...partitions] }])
  }

  resume(partitions: readonly number[]): void {
    this.consumer?.resume([{ topic: this.o.topic, partitions: [...partitions] }])
  }

  seek(partition: number, offset: bigint): void {
    this.consumer?.seek({ topic: this.o.topic, partition, offset: offset.toString() })
  }

  async start(handler: ConsumerLoopHandler): Promise<void> {
    const { kafka, topic, listener } = this.o
    this.handler = handler
    const consumer = kafka.consumer({
      groupId: this.o.groupId,
      readUncommitted: false,
      maxBytesPerPartition: this.o.maxBytesPerPartition,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 100,
      sessionTimeout: this.o.sessionTimeoutMs,
      heartbeatInterval: this.o.heartbeatIntervalMs,
      rebalanceTimeout: this.o.rebalanceTimeoutMs,
    })
    this.consumer = consumer
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const partitions = e.payload.memberAssignment[topic] ?? []
      listener?.rebalanced?.(partitions)
      handler.assigned(partitions)
    })
    consumer.on(consumer.events.REBALANCING, () => listener?.rebalancing?.())
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const { partition, highWatermark, lastOffset, batchSize } = e.payload
      const next = handler.position(partition)
      if (next === undefined || !listener?.positionAfterBatch) return
      // A batch of only markers / aborted records (batchSize 0) moves the position past them.
      const past = batchSize === 0 ? BigInt(lastOffset) + 1n : next
      listener.positionAfterBatch(partition, BigInt(highWatermark), past > next ? past : next)
    })
    consumer.on(consumer.events.CRASH, (e) => {
      handler.groupLost()
      this.o.logger.warn({ err: e.payload.error, restart: e.payload.restart }, 'consumer crashed')
    })
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({
      autoCommit: false, // offsets are committed only inside transactions (sendOffsets)
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, Math.min(this.o.partitions, 32)),
      eachBatch: (payload) => this.eachBatch(payload),
    })
  }

  private eachBatch({
    batch,
    resolveOffset,
    heartbeat,
    isRunning,
    isStale,
  }: EachBatchPayload): Promise<void> {
    const partition = batch.partition
    const records: InputRecord[] = batch.messages.map((m) => ({
      partition,
      offset: BigInt(m.offset),
      key: m.key ?? null,
      value: m.value ?? null,
      headers: m.headers as Record<string, HeaderValue> | undefined,
      timestamp: m.timestamp,
    }))
    return this.handler!.handleBatch(partition, records, {
      current: () => isRunning() && !isStale(),
      committed: async (last) => {
        resolveOffset(last.toString())
        // A failed heartbeat means a rebalance is under way; kafkajs sees it again after this batch and
        // rejoins. The batch's commits stand, and a partition that moved fences our producer anyway.
        await heartbeat().catch((e: unknown) =>
          this.o.logger.debug({ err: e }, 'heartbeat failed during a batch'),
        )
      },
    })
  }

  /** Stops fetching and leaves the group; the batch in flight finishes first (kafkajs waits for it). */
  async stop(): Promise<void> {
    await this.consumer
      ?.disconnect()
      .catch((e: unknown) => this.o.logger.warn({ err: e }, 'consumer disconnect failed'))
  }
}
