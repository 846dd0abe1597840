/**
 * TopologyRunner (StreamThread + TaskManager): one consumer group per topology, one Task per assigned
 * input partition. kafkajs has no revoke callback and no manual assign, so assignment changes are derived
 * from GROUP_JOIN (which carries the whole assignment; in-flight eachBatch calls finish before a rejoin):
 * new partitions are paused until their task is RUNNING, then sought to the task's resume offset.
 */
import type { Admin, Consumer, EachBatchPayload, Kafka } from 'kafkajs'
import type { Logger } from 'pino'
import type { WorkerConfig } from '../config/worker-config.ts'
import { DecideFailedError } from '../errors.ts'
import { kafkaTaskPorts } from '../kafka/task-ports.ts'
import { ensureTopics, outputPartitionCounts } from '../kafka/topics.ts'
import type { Topology } from '../topology/loader.ts'
import type { InputRecord } from './processor.ts'
import { Task, type TaskListener } from './task.ts'
import { TaskState } from './task-state.ts'

export interface TopologyRunnerOptions {
  topology: Topology
  config: WorkerConfig
  kafka: Kafka
  logger: Logger
  listener?: RunnerListener
  /** Called when the worker must stop (decide threw under the `stop` policy). */
  onFatal: (e: Error) => void
}

/** Task hooks plus group-level ones (observation only: metrics and readiness). */
export interface RunnerListener extends TaskListener {
  /** A group join delivered this assignment. */
  rebalanced?(assigned: number[]): void
  /** kafkajs saw the group rebalancing and is rejoining (a `rebalanced` follows). */
  rebalancing?(): void
  /**
   * After a fetched batch of a RUNNING task: the partition's high watermark and our position (the next
   * offset to process, past any transaction markers the batch ended with), both offsets.
   */
  positionAfterBatch?(partition: number, highWatermark: string, position: string): void
}

export class TopologyRunner {
  readonly tasks = new Map<number, Task>()
  /** Close of the previous task per partition: a new task waits for it (its LevelDB lock must be released). */
  private readonly closingTasks = new Map<number, Promise<void>>()
  private assigned = new Set<number>()
  private admin: Admin | undefined
  private consumer: Consumer | undefined
  private partitionCounts: ReadonlyMap<string, number> = new Map()
  private joined = false
  private stopping = false
  private readonly pending = new Set<Promise<unknown>>()
  private readonly topic: string
  private readonly log: Logger

  constructor(private readonly o: TopologyRunnerOptions) {
    this.topic = o.topology.topics.commands
    this.log = o.logger.child({ topology: o.topology.definition.name })
  }

  get name(): string {
    return this.o.topology.definition.name
  }

  /** Ready = joined the group and every assigned partition's task is RUNNING. */
  isReady(): boolean {
    if (!this.joined || this.stopping) return false
    for (const p of this.assigned) if (this.tasks.get(p)?.state !== TaskState.RUNNING) return false
    return true
  }

  async start(): Promise<void> {
    const { topology, config, kafka } = this.o
    this.admin = kafka.admin()
    await this.admin.connect()
    const check = await ensureTopics(this.admin, topology, {
      create: config.topics.create,
      ...(config.topics.replicationFactor !== undefined ? { replicationFactor: config.topics.replicationFactor } : {}),
    })
    if (check.created.length > 0) this.log.info({ created: check.created }, 'created topics')
    this.partitionCounts = await outputPartitionCounts(this.admin, topology)

    const consumer = kafka.consumer({
      groupId: topology.applicationId,
      readUncommitted: false,
      maxBytesPerPartition: topology.definition.processing.maxBytesPerPartition,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 100,
      sessionTimeout: config.consumer.sessionTimeoutMs,
      heartbeatInterval: config.consumer.heartbeatIntervalMs,
      rebalanceTimeout: config.consumer.rebalanceTimeoutMs,
    })
    this.consumer = consumer
    consumer.on(consumer.events.GROUP_JOIN, (e) => this.onAssignment(e.payload.memberAssignment[this.topic] ?? []))
    consumer.on(consumer.events.REBALANCING, () => this.o.listener?.rebalancing?.())
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const { partition, highWatermark, lastOffset, batchSize } = e.payload
      const task = this.tasks.get(partition)
      if (task === undefined || task.state !== TaskState.RUNNING || !this.o.listener?.positionAfterBatch) return
      // A batch of only markers / aborted records (batchSize 0) moves the position past them.
      const next = BigInt(task.nextOffset)
      const past = batchSize === 0 ? BigInt(lastOffset) + 1n : next
      this.o.listener.positionAfterBatch(partition, highWatermark, (past > next ? past : next).toString())
    })
    consumer.on(consumer.events.CRASH, (e) => {
      this.joined = false
      this.log.warn({ err: e.payload.error, restart: e.payload.restart }, 'consumer crashed')
    })
    await consumer.connect()
    await consumer.subscribe({ topic: this.topic, fromBeginning: true })
    await consumer.run({
      autoCommit: false, // offsets are committed only inside transactions (sendOffsets)
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, Math.min(topology.definition.partitions, 32)),
      eachBatch: (payload) => this.eachBatch(payload),
    })
  }

  private onAssignment(partitions: number[]): void {
    const consumer = this.consumer!
    this.joined = true
    this.assigned = new Set(partitions)
    this.log.info({ partitions }, 'assignment')
    this.o.listener?.rebalanced?.(partitions)
    for (const [p, task] of this.tasks) {
      if (!this.assigned.has(p)) {
        this.tasks.delete(p)
        this.closeTask(task)
      } else if (task.state === TaskState.RUNNING) {
        // The rejoin reset the fetch position to the committed offset, which may be stale: go on from ours.
        consumer.seek({ topic: this.topic, partition: p, offset: task.nextOffset })
      }
    }
    const fresh = partitions.filter((p) => !this.tasks.has(p))
    if (fresh.length > 0) consumer.pause([{ topic: this.topic, partitions: fresh }])
    for (const p of fresh) this.startTask(p)
  }

  private startTask(p: number, attempt = 1): void {
    const task = this.createTask(p)
    this.tasks.set(p, task)
    this.track(this.initializeTask(task, attempt))
  }

  /** Starts a fresh task for `p` after `delayMs`, if `p` is still ours and has no task by then. */
  private restartLater(p: number, delayMs: number, attempt = 1): void {
    this.track(
      sleep(delayMs).then(() => {
        if (this.assigned.has(p) && !this.tasks.has(p) && !this.stopping) this.startTask(p, attempt)
      }),
    )
  }

  private closeTask(task: Task): void {
    const closed = task.close()
    this.closingTasks.set(task.partition, closed)
    this.track(closed)
  }

  private async initializeTask(task: Task, attempt: number): Promise<void> {
    const p = task.partition
    await this.closingTasks.get(p)?.catch(() => undefined)
    try {
      const offset = await task.initialize()
      if (this.tasks.get(p) !== task || this.stopping) return
      this.consumer!.seek({ topic: this.topic, partition: p, offset })
      this.consumer!.resume([{ topic: this.topic, partitions: [p] }])
    } catch (e) {
      // A closed task cannot be reused: close it and replace it, with a growing delay.
      this.closeTask(task)
      if (this.tasks.get(p) !== task || this.stopping) return
      this.tasks.delete(p)
      const delay = Math.min(500 * attempt, 5000)
      this.log.warn({ err: e, partition: p, attempt, delay }, 'task initialisation failed; retrying')
      this.restartLater(p, delay, attempt + 1)
    }
  }

  private createTask(p: number): Task {
    const { topology, kafka, config } = this.o
    const log = this.log.child({ partition: p, task: `${topology.definition.name}[${p}]` })
    return new Task({
      topology,
      partition: p,
      logger: log,
      ...(this.o.listener ? { listener: this.o.listener } : {}),
      ports: kafkaTaskPorts({ kafka, admin: this.admin!, topology, partition: p, stateDir: config.stateDir, logger: log, partitionCounts: this.partitionCounts }),
    })
  }

  private async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const p = batch.partition
    const task = this.tasks.get(p)
    if (task === undefined || task.state !== TaskState.RUNNING) {
      // Not ours yet (restoring) or any more: the task seeks and resumes when it is RUNNING.
      this.consumer!.pause([{ topic: this.topic, partitions: [p] }])
      return
    }
    if (!isRunning() || isStale() || batch.messages.length === 0) return
    const records: InputRecord[] = batch.messages.map((m) => ({
      partition: p,
      offset: m.offset,
      key: m.key ?? null,
      value: m.value ?? null,
      headers: m.headers as InputRecord['headers'],
      timestamp: m.timestamp,
    }))
    let outcome
    try {
      outcome = await task.process(records, async (last) => {
        resolveOffset(last)
        // A failed heartbeat means a rebalance is under way; kafkajs sees it again after this batch and
        // rejoins. The batch's commits stand, and a partition that moved fences our producer anyway.
        await heartbeat().catch((e: unknown) => this.log.debug({ err: e }, 'heartbeat failed during a batch'))
      })
    } catch (e) {
      if (e instanceof DecideFailedError) {
        this.consumer!.pause([{ topic: this.topic, partitions: [p] }])
        this.o.onFatal(e)
        return
      }
      // A consumer-level error (e.g. heartbeat: "the group is rebalancing"): the task is fine and its
      // commits stand; let kafkajs rejoin, GROUP_JOIN keeps or closes the task.
      if (task.state === TaskState.RUNNING) throw e
      // Re-initialisation failed: close the task (idempotent) and start a fresh one while still assigned.
      this.log.error({ err: e, partition: p }, 'task failed; restarting it')
      this.consumer!.pause([{ topic: this.topic, partitions: [p] }])
      this.closeTask(task)
      if (this.tasks.get(p) === task) this.tasks.delete(p)
      this.restartLater(p, 1000)
      return
    }
    if (outcome.kind === 'seek') {
      if (outcome.backoffMs > 0) await sleep(outcome.backoffMs)
      if (this.tasks.get(p) === task && task.state === TaskState.RUNNING) {
        this.consumer!.seek({ topic: this.topic, partition: p, offset: outcome.offset })
      }
    } else if (outcome.kind === 'fenced') {
      // Another owner initialised our transactional id. A rebalance normally follows and tells us the truth;
      // if we are still assigned after it had time to happen, a fresh task takes the partition back.
      this.consumer!.pause([{ topic: this.topic, partitions: [p] }])
      if (this.tasks.get(p) === task) this.tasks.delete(p)
      this.restartLater(p, 5000)
    }
  }

  private track(p: Promise<unknown>): void {
    const wrapped = p.catch((e: unknown) => this.log.error({ err: e }, 'background task error'))
    this.pending.add(wrapped)
    void wrapped.finally(() => this.pending.delete(wrapped))
  }

  /** Stops fetching, lets the batch in flight finish (its transaction commits or aborts), closes tasks, leaves the group. */
  async stop(): Promise<void> {
    this.stopping = true
    await this.consumer?.disconnect().catch((e: unknown) => this.log.warn({ err: e }, 'consumer disconnect failed'))
    await Promise.allSettled([...this.pending])
    await Promise.allSettled([...this.tasks.values()].map((t) => t.close()))
    this.tasks.clear()
    await this.admin?.disconnect().catch(() => undefined)
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
