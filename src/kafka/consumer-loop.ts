/**
 * The consumer loop of one topology (Kafka Streams' StreamThread, minus the tasks): one kafkajs consumer in the
 * topology's group, subscribed to the commands topic. It maps kafkajs events and batches to the task manager's
 * terms and implements the ConsumerControl port (pause / resume / seek) the task manager drives it through.
 *
 * kafkajs has no revoke callback and no manual assign, so assignment changes come from GROUP_JOIN (which carries
 * the whole assignment; in-flight eachBatch calls finish before a rejoin). Offsets are committed only inside
 * transactions (autoCommit off, no auto-resolve).
 *
 * Commands may be written inside transactions by other services, so the consumer reads read_uncommitted and
 * applies the transaction markers itself, one PartitionInput per partition (input-transactions.ts): kafkajs'
 * read_committed filter hands out aborted records when aborted transactions of several producers overlap a fetch.
 * kafkajs' fetch position (its resolved offset) follows what the filter has read, never the task's position; a
 * seek by the task manager starts the partition's filter afresh at the offset it seeks to.
 */
import type { Consumer, EachBatchPayload, Kafka, PartitionAssigner } from 'kafkajs'
import type { Logger } from 'pino'
import { ConsumerCrashedError } from '../errors.ts'
import type { BatchHooks } from '../runtime/task-manager.ts'
import type { ConsumerControl, HeaderValue, InputRecord } from '../runtime/ports.ts'
import { advertisingAssigner, type MemberEndpoint } from './advertising-assigner.ts'
import { PartitionInput } from './input-transactions.ts'
import { fetchedOffsetOf, logRecordsOf, type LogRecord } from './transactions.ts'

/** What the loop calls: the task manager (and, for observation, the worker). */
export interface ConsumerLoopHandler {
  /** A group join delivered this assignment (the whole of it) to this member. */
  assigned(partitions: readonly number[], memberId: string): void
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
  /**
   * The broker answers a fetch once it has this many bytes for us, or after fetchMaxWaitMs (processing.fetchMinBytes,
   * processing.fetchMaxWaitMs). Above 1 byte, a lightly loaded partition's commands gather into fewer, larger
   * transactions, at the cost of up to fetchMaxWaitMs of latency. Defaults: 1 byte, 100 ms.
   */
  fetchMinBytes?: number
  fetchMaxWaitMs?: number
  sessionTimeoutMs: number
  heartbeatIntervalMs: number
  rebalanceTimeoutMs: number
  logger: Logger
  /** Announced to the group in this member's metadata (advertising-assigner.ts), so others can forward reads here. */
  endpoint?: MemberEndpoint
  /**
   * Preferred assigners, before the round robin one every worker knows (e.g. decider-assigner.ts); the group uses
   * the first that all its members offer.
   */
  assigners?: PartitionAssigner[]
  listener?: ConsumerLoopListener
  /** kafkajs gave up on the consumer (CRASH with restart false): the group is gone for good, nothing will fetch. */
  onGone?(error: ConsumerCrashedError): void
  /** Each join: the member id the coordinator gave this consumer (recorded in the state dir, group-members.ts). */
  onJoined?(memberId: string): void
}

export class KafkaConsumerLoop implements ConsumerControl {
  private consumer: Consumer | undefined
  private handler: ConsumerLoopHandler | undefined
  /** The transaction filter of each partition, from the last seek on; none until the task manager seeks. */
  private readonly inputs = new Map<number, PartitionInput>()

  constructor(private readonly o: ConsumerLoopOptions) {}

  pause(partitions: readonly number[]): void {
    this.control('pause', () => this.consumer?.pause([{ topic: this.o.topic, partitions: [...partitions] }]))
  }

  resume(partitions: readonly number[]): void {
    this.control('resume', () =>
      this.consumer?.resume([{ topic: this.o.topic, partitions: [...partitions] }]),
    )
  }

  /**
   * Pause, resume and seek throw while kafkajs restarts a crashed consumer (its group is not initialised again
   * yet). Thrown from inside its runner, that became a crash kafkajs does not restart (a broker restart stopped a
   * worker that way). Dropping the call is safe: the restart ends in a group join, which resets every position, and
   * the task manager seeks and pauses every partition again on that assignment.
   */
  private control(what: string, call: () => void): void {
    try {
      call()
    } catch (e) {
      this.o.logger.debug(
        { err: e, what },
        'consumer not running (kafkajs restarts it): dropped until the next join',
      )
    }
  }

  /** The next fetch of `partition` starts at `offset`, with a fresh filter: records held for it are fetched again. */
  seek(partition: number, offset: bigint): void {
    this.inputs.set(partition, new PartitionInput(offset))
    this.refetch(partition, offset)
  }

  /** Moves kafkajs' fetch position only (the filter keeps what it holds and ignores offsets it has read). */
  private refetch(partition: number, offset: bigint): void {
    this.control('seek', () =>
      this.consumer?.seek({ topic: this.o.topic, partition, offset: offset.toString() }),
    )
  }

  async start(handler: ConsumerLoopHandler): Promise<void> {
    const { kafka, topic, listener } = this.o
    this.handler = handler
    const consumer = kafka.consumer({
      groupId: this.o.groupId,
      readUncommitted: true, // the markers are applied here (PartitionInput)
      maxBytesPerPartition: this.o.maxBytesPerPartition,
      allowAutoTopicCreation: false,
      minBytes: this.o.fetchMinBytes ?? 1,
      maxWaitTimeInMs: this.o.fetchMaxWaitMs ?? 100,
      sessionTimeout: this.o.sessionTimeoutMs,
      heartbeatInterval: this.o.heartbeatIntervalMs,
      rebalanceTimeout: this.o.rebalanceTimeoutMs,
      // kafkajs' default round robin, with this worker's endpoint in its member metadata: same protocol, same assignment.
      partitionAssigners: [...(this.o.assigners ?? []), advertisingAssigner(this.o.endpoint)],
    })
    this.consumer = consumer
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const partitions = e.payload.memberAssignment[topic] ?? []
      this.o.onJoined?.(e.payload.memberId)
      // A join resets kafkajs' positions to the committed offsets: every partition starts over at its next seek.
      this.inputs.clear()
      listener?.rebalanced?.(partitions)
      handler.assigned(partitions, e.payload.memberId)
    })
    consumer.on(consumer.events.REBALANCING, () => listener?.rebalancing?.())
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const { partition, highWatermark, firstOffset, lastOffset, batchSize } = e.payload
      const input = this.inputs.get(partition)
      // A fetch of transaction markers alone never reaches eachBatch: the filter may need them.
      if (input !== undefined && batchSize === 0 && firstOffset !== null) {
        const again = input.markersOnly(BigInt(firstOffset), BigInt(lastOffset))
        if (again !== undefined) this.refetch(partition, again)
      }
      const next = handler.position(partition)
      if (next === undefined || !listener?.positionAfterBatch) return
      listener.positionAfterBatch(
        partition,
        BigInt(highWatermark),
        input === undefined ? next : input.position(next),
      )
    })
    consumer.on(consumer.events.CRASH, (e) => {
      handler.groupLost()
      const { error, restart } = e.payload
      if (restart) {
        this.o.logger.warn({ err: error, restart }, 'consumer crashed; kafkajs restarts it')
        return
      }
      this.o.onGone?.(
        new ConsumerCrashedError(
          `the consumer of group ${this.o.groupId} crashed and kafkajs does not restart it: ${error.message}`,
          { cause: error },
        ),
      )
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

  private async eachBatch({
    batch,
    resolveOffset,
    heartbeat,
    isRunning,
    isStale,
  }: EachBatchPayload): Promise<void> {
    const partition = batch.partition
    const hooks: BatchHooks = {
      current: () => isRunning() && !isStale(),
      // kafkajs' position is the filter's (resolved below), so a commit only heartbeats. A failed heartbeat means
      // a rebalance is under way; kafkajs sees it again after this batch and rejoins. The batch's commits stand,
      // and a partition that moved fences our producer anyway.
      committed: async () => {
        await heartbeat().catch((e: unknown) =>
          this.o.logger.debug({ err: e }, 'heartbeat failed during a batch'),
        )
      },
    }
    if (isStale()) return // fetched before a seek that is still to be applied
    const input = this.inputs.get(partition)
    if (input === undefined) {
      // No seek since the assignment: the task is not RUNNING (the task manager pauses the partition until it
      // is, then seeks). Were it RUNNING, start reading at its position.
      const at = this.handler!.position(partition)
      if (at !== undefined) this.seek(partition, at)
      else await this.handler!.handleBatch(partition, [], hooks)
      return
    }
    if (fetchedOffsetOf(batch) > input.next) {
      this.refetch(partition, input.next) // would leave records unread (a fetch from a stale position)
      return
    }
    const released = input.push(logRecordsOf(batch))
    if (input.futileRefetches === 3)
      this.o.logger.warn(
        { partition, offset: input.firstHeld, maxBytesPerPartition: this.o.maxBytesPerPartition },
        'the markers of an open input transaction do not fit in one fetch with the record batch before them; ' +
          'the partition waits for a record after them. Raise processing.maxBytesPerPartition above the largest ' +
          'record batch of the commands topic',
      )
    // The next fetch starts after everything the filter has read; the task's position is its own.
    resolveOffset((input.next - 1n).toString())
    await this.handler!.handleBatch(partition, released.map(toInput(partition)), hooks)
  }

  /** Stops fetching and leaves the group; the batch in flight finishes first (kafkajs waits for it). */
  async stop(): Promise<void> {
    await this.consumer
      ?.disconnect()
      .catch((e: unknown) => this.o.logger.warn({ err: e }, 'consumer disconnect failed'))
  }
}

function toInput(partition: number) {
  return (r: LogRecord): InputRecord => ({
    partition,
    offset: BigInt(r.offset),
    key: r.key,
    value: r.value,
    headers: r.headers as Record<string, HeaderValue>,
    timestamp: r.timestamp,
  })
}
