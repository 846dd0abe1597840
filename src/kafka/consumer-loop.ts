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
 *
 * Each partition's records go through a lane: eachBatch queues them and returns, and the lane hands them to the
 * task manager one batch at a time, everything queued meanwhile together. kafkajs fetches all partitions of a broker
 * in one request and waits for every batch of a fetch before the next one, so handling a batch inside eachBatch made
 * every partition wait for the slowest transaction of the round (one slow commit delayed all partitions' commands)
 * and left the next fetch until every commit was done. With lanes a partition waits only for its own previous
 * transaction, the next fetch overlaps the commits, and commands that arrive during a transaction go into the next
 * one together. eachBatch still waits while its lane holds `laneRecords` records or more (memory stays bounded; under a
 * backlog that is the old pace, one batch ahead). Exactly-once does not rest on eachBatch: the input position is
 * committed inside each transaction (its offset marker; the group's offset about once a second), and a partition that moved fences this worker's producer (its transactional id
 * is the partition's), so a transaction still running after a rebalance commits before the new owner starts or is
 * aborted by it. Records queued under a filter that a seek or a join replaced are dropped: they are fetched again
 * from the position the seek names.
 */
import type { Consumer, EachBatchPayload, Kafka, PartitionAssigner } from 'kafkajs'
import type { Logger } from 'pino'
import { ConsumerCrashedError } from '../errors.ts'
import type { BatchHooks } from '../runtime/task-manager.ts'
import type { ConsumerControl, HeaderValue, InputRecord } from '../runtime/ports.ts'
import { advertisingAssigner, type MemberEndpoint } from './advertising-assigner.ts'
import { PartitionInput } from './input-transactions.ts'
import { fetchedOffsetOf, logRecordsOf, type LogRecord } from './transactions.ts'
import { retryMetadata } from './errors.ts'

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
  /**
   * eachBatch returns at once while the partition's lane holds fewer records than this, else it waits until it does
   * (default 1000; the topology's processing.maxBatchCommands).
   */
  laneRecords?: number
  /**
   * A partition starts a transaction at most once per this many ms (processing.commitIntervalMs, default 20 there; 0
   * or absent: as soon as the previous one is done). Under light load every partition otherwise commits whatever
   * arrived during its previous transaction, and the transactions' fixed cost (the broker's above all) fills the
   * machine; waiting gathers more commands into each one. Only a partition that committed within the interval waits
   * (the first command after a quiet spell does not), and a lane holding laneRecords records does not wait.
   */
  commitIntervalMs?: number
}

/** A partition's records between kafkajs' eachBatch and the task manager (see the header). */
interface Lane {
  /** Fetched records in order, each chunk with the filter it was read through (stale once the filter is replaced). */
  chunks: { input: PartitionInput; records: InputRecord[]; fetchedAt: number }[]
  count: number
  /** kafkajs' isRunning and the heartbeat of the partition's latest eachBatch. */
  running: () => boolean
  committed: BatchHooks['committed']
  highWatermark: bigint
  /** The drain loop while it runs. */
  draining: Promise<void> | undefined
  /** eachBatch calls waiting for room. */
  waiting: (() => void)[]
  /** When the lane last handed a batch over (performance.now()), for commitIntervalMs. */
  handedAt: number
  /** Ends the commit interval's wait early (the lane filled up, or the loop stops). */
  hurry: (() => void) | undefined
}

export class KafkaConsumerLoop implements ConsumerControl {
  private consumer: Consumer | undefined
  private handler: ConsumerLoopHandler | undefined
  /** The transaction filter of each partition, from the last seek on; none until the task manager seeks. */
  private readonly inputs = new Map<number, PartitionInput>()
  private readonly lanes = new Map<number, Lane>()
  /** An error a lane's batch threw, for the next eachBatch to throw (kafkajs then restarts the consumer, rejoins). */
  private failure: unknown
  private stopping = false

  /** Records a lane holds before eachBatch waits, and before a commit interval is cut short (see the options). */
  private readonly laneRecords: number

  constructor(private readonly o: ConsumerLoopOptions) {
    this.laneRecords = o.laneRecords ?? 1000
  }

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
    // A topic just created may be unknown to the broker asked for metadata (kafkajs does not retry that here).
    await retryMetadata(() => consumer.subscribe({ topic, fromBeginning: true }))
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
    if (this.stopping) return // the consumer is about to leave the group: nothing more is queued
    if (this.failure !== undefined) {
      const e = this.failure
      this.failure = undefined
      throw e
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
    if (released.length === 0) return
    const lane = this.laneOf(partition)
    lane.chunks.push({ input, records: released.map(toInput(partition)), fetchedAt: performance.now() })
    lane.count += released.length
    lane.running = isRunning
    lane.committed = hooks.committed
    lane.highWatermark = BigInt(batch.highWatermark)
    lane.draining ??= this.drain(partition, lane)
    // Bounded memory: under a backlog, wait (holding kafkajs' fetch) until the lane has room again.
    const room = this.laneRecords
    if (lane.count >= room) lane.hurry?.()
    while (lane.count >= room && !this.stopping && hooks.current() && lane.draining !== undefined)
      await new Promise<void>((r) => lane.waiting.push(r))
  }

  private laneOf(partition: number): Lane {
    let lane = this.lanes.get(partition)
    if (lane === undefined) {
      lane = {
        chunks: [],
        count: 0,
        running: () => false,
        committed: () => undefined,
        highWatermark: 0n,
        draining: undefined,
        waiting: [],
        handedAt: -Infinity,
        hurry: undefined,
      }
      this.lanes.set(partition, lane)
    }
    return lane
  }

  /** Hands the lane's records to the task manager, all that is queued at once, until it is empty. */
  private async drain(partition: number, lane: Lane): Promise<void> {
    // Not synchronously: the caller stores this promise as lane.draining, which the finally below clears.
    await Promise.resolve()
    try {
      for (;;) {
        await this.commitInterval(lane)
        // Only what was read through the partition's current filter: a seek or a join since made the rest stale.
        const current = this.inputs.get(partition)
        let records: InputRecord[] = []
        let fetchedAt = 0
        for (const c of lane.chunks) {
          if (c.input !== current) continue
          if (records.length === 0) {
            records = c.records
            fetchedAt = c.fetchedAt
          } else for (const r of c.records) records.push(r)
        }
        lane.chunks = []
        lane.count = 0
        wake(lane)
        if (records.length === 0 || this.stopping) return
        lane.handedAt = performance.now()
        const hooks: BatchHooks = {
          // Still wanted while read through the partition's current filter. Not kafkajs' isStale: it is also true
          // while one of the loop's own refetches is pending, whose records before it the filter has released
          // already and will not release again (handing them over is the only way they get processed).
          current: () => !this.stopping && lane.running() && this.inputs.get(partition) === current,
          committed: lane.committed,
          fetchedAt,
        }
        await this.handler!.handleBatch(partition, records, hooks)
        const next = this.handler!.position(partition)
        if (next !== undefined && current !== undefined && this.inputs.get(partition) === current)
          this.o.listener?.positionAfterBatch?.(partition, lane.highWatermark, current.position(next))
      }
    } catch (e) {
      // As eachBatch used to throw it: kafkajs restarts the consumer and rejoins, and the join resets every position.
      this.o.logger.warn({ err: e, partition }, 'batch failed; the consumer rejoins the group')
      this.failure ??= e
      lane.chunks = []
      lane.count = 0
    } finally {
      lane.draining = undefined
      wake(lane)
    }
  }

  /** Waits until commitIntervalMs since the lane's last batch, unless the lane is full or the loop stops. */
  private async commitInterval(lane: Lane): Promise<void> {
    const wait = lane.handedAt + (this.o.commitIntervalMs ?? 0) - performance.now()
    if (wait <= 0 || this.stopping || lane.count >= this.laneRecords) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, wait)
      function done(): void {
        clearTimeout(timer)
        lane.hurry = undefined
        resolve()
      }
      lane.hurry = done
    })
  }

  /** Resolves once no lane has records queued or in flight (tests; bounded by the batches in flight). */
  async idle(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const busy = [...this.lanes.values()].map((l) => l.draining).filter((d) => d !== undefined)
      if (busy.length === 0) return
      await Promise.all(busy)
    }
  }

  /**
   * Stops: the batch each lane has in flight finishes (its commit and heartbeat), what is queued is dropped, and then
   * the consumer stops fetching and leaves the group (the order it had when kafkajs waited for eachBatch).
   */
  async stop(): Promise<void> {
    this.stopping = true
    for (const lane of this.lanes.values()) {
      lane.hurry?.()
      wake(lane)
    }
    await this.idle()
    await this.consumer
      ?.disconnect()
      .catch((e: unknown) => this.o.logger.warn({ err: e }, 'consumer disconnect failed'))
  }
}

function wake(lane: Lane): void {
  const waiting = lane.waiting
  lane.waiting = []
  for (const w of waiting) w()
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
