/**
 * TaskManager (as Kafka Streams names it): owns the tasks of one topology in this worker, one per assigned input
 * partition, and is the ONE place that turns what happens to a task into what the consumer does:
 *
 *   assignment ........... revoked: close the task (after its batch in flight) | kept and RUNNING: seek to its
 *                          position (a rejoin reset the fetch position to the committed offset, which may be stale)
 *                          | new: pause, create the task, initialise it, then seek to its resume offset and resume
 *   initialisation failed  close it, start a fresh task later (growing delay) while the partition is still ours
 *   batch outcome ........ done: nothing | seek: pause, back off (without holding the fetch), then seek to the
 *                          batch start and resume (nothing was committed)
 *                          | fenced: pause, drop the task, start a fresh one later if the partition is still ours
 *   batch threw .......... decide failed under the `stop` policy: pause, stop the worker | task no longer RUNNING
 *                          (its re-initialisation failed): pause, close, restart later | task RUNNING: a consumer
 *                          error (e.g. a failed heartbeat): rethrow, the consumer rejoins and the assignment decides
 *
 * It drives the consumer through ConsumerControl and gets its tasks from a factory, so the same code runs over
 * Kafka (src/kafka/consumer-loop.ts) and in memory (the TopologyTestDriver, the unit tests).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { stopsTheWorker } from '../errors.ts'
import type { ConsumerControl, InputRecord } from './ports.ts'
import type { ProcessOutcome } from './task.ts'

/** What the task manager needs of a task (a decider's Task, a projection's tasks). */
export interface ManagedTask {
  readonly partition: number
  readonly state: TaskState
  readonly nextOffset: bigint
  initialize(): Promise<bigint>
  process(
    records: readonly InputRecord[],
    onCommitted: (lastOffset: bigint) => Promise<void> | void,
    fetchedAt?: number,
  ): Promise<ProcessOutcome>
  close(): Promise<void>
}
import { TaskState } from './task-state.ts'

/** What the consumer loop offers the task manager during one fetched batch. */
export interface BatchHooks {
  /** After each committed transaction, with its last input offset (the consumer loop heartbeats). */
  committed(lastOffset: bigint): Promise<void> | void
  /** False once the consumer no longer wants this batch (a rebalance started, shutdown). */
  current(): boolean
  /** When the batch's first records were fetched (performance.now()), if the consumer loop knows it. */
  fetchedAt?: number
}

/** Delays before a fresh task replaces one that failed, in ms. */
export interface RestartPolicy {
  /** After the n-th failed initialisation in a row (n = 1, 2, ...). */
  afterInitFailure(attempt: number): number
  /** After a task failed while running (its re-initialisation failed). */
  afterTaskFailure: number
  /** After a fence, when the partition is still ours: the rebalance that normally follows had time to happen. */
  afterFenced: number
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  afterInitFailure: (attempt) => Math.min(500 * attempt, 5000),
  afterTaskFailure: 1000,
  afterFenced: 5000,
}

/** Observation only (metrics, readiness, the test driver). */
export interface TaskManagerListener {
  /** A task failed (initialisation or a batch) and was closed; `restartInMs` undefined = it stays down. */
  taskFailed?(partition: number, error: unknown, restartInMs: number | undefined): void
  /** Failed initialisations in a row of the partition's task: after each failure, and 0 once one is RUNNING. */
  initFailures?(partition: number, inARow: number): void
}

/** Failed initialisations in a row after which a partition counts as stalled (readiness says why). */
export const STALLED_AFTER_INIT_FAILURES = 3

export interface TaskManagerOptions<T extends ManagedTask = ManagedTask> {
  /** For logs: the topology name. */
  name: string
  consumer: ConsumerControl
  /** A new task for the partition (not initialised); the previous task of that partition is CLOSED by then. */
  createTask(partition: number): T
  logger: Logger
  listener?: TaskManagerListener
  /** The worker must stop (decide threw under the `stop` policy). */
  onFatal(e: Error): void
  restartPolicy?: RestartPolicy
  /** false: a failed or fenced task stays down (the TopologyTestDriver restarts it when the test says so). */
  autoRestart?: boolean
  /**
   * Before a new task of the partition initialises (after its predecessor's close): e.g. close the standby that
   * holds the partition's store here, so the task starts from it.
   */
  beforeOpen?(partition: number): Promise<void>
  /** Waits out a backoff; injectable so in-memory runs need not sleep. */
  sleep?: (ms: number) => Promise<unknown>
}

export class TaskManager<T extends ManagedTask = ManagedTask> {
  private readonly live = new Map<number, T>()
  /** Close of the previous task per partition: a new task waits for it (its LevelDB lock must be released). */
  private readonly closing = new Map<number, Promise<void>>()
  private assigned = new Set<number>()
  private joined = false
  private stopping = false
  private readonly pending = new Set<Promise<unknown>>()
  private readonly policy: RestartPolicy
  private readonly sleep: (ms: number) => Promise<unknown>
  /** The task of each partition paused for a backoff: its batches wait for the seek that ends it. */
  private readonly backingOff = new Map<number, T>()
  /** Failed initialisations in a row per partition, with the last error; dropped once a task is RUNNING. */
  private readonly initFailed = new Map<number, { inARow: number; error: unknown }>()
  private stopped!: () => void
  /** Resolves on stop(): ends every wait (backoffs, restart delays) at once. */
  private readonly stopSignal = new Promise<void>((r) => (this.stopped = r))

  constructor(private readonly o: TaskManagerOptions<T>) {
    this.policy = o.restartPolicy ?? DEFAULT_RESTART_POLICY
    this.sleep = o.sleep ?? sleep
  }

  /** The live tasks by partition (a task may be in any state but CLOSED). */
  get tasks(): ReadonlyMap<number, T> {
    return this.live
  }

  get assignment(): readonly number[] {
    return [...this.assigned]
  }

  /** Ready = joined the group and every assigned partition's task is RUNNING. */
  isReady(): boolean {
    if (!this.joined || this.stopping) return false
    for (const p of this.assigned) if (this.live.get(p)?.state !== TaskState.RUNNING) return false
    return true
  }

  /** Why assigned partitions cannot make progress: tasks that failed to initialise many times in a row. */
  stalls(): string[] {
    const out: string[] = []
    for (const [p, f] of this.initFailed) {
      if (f.inARow < STALLED_AFTER_INIT_FAILURES || !this.assigned.has(p)) continue
      const why = f.error instanceof Error ? f.error.message : String(f.error)
      out.push(`partition ${p}: task initialisation failed ${f.inARow} times in a row (${why})`)
    }
    return out
  }

  /** The next input offset of the partition's task when it is RUNNING (for lag); undefined otherwise. */
  position(partition: number): bigint | undefined {
    const task = this.running(partition)
    return task === undefined ? undefined : task.nextOffset
  }

  /** The group is gone (consumer crashed): not ready until the next assignment. */
  groupLost(): void {
    this.joined = false
  }

  /** A group join delivered this assignment (the whole of it). */
  assign(partitions: readonly number[]): void {
    this.joined = true
    this.assigned = new Set(partitions)
    this.o.logger.info({ partitions }, 'assignment')
    for (const p of this.initFailed.keys()) if (!this.assigned.has(p)) this.initFailed.delete(p)
    for (const [p, task] of this.live) {
      if (!this.assigned.has(p)) this.drop(p, task)
      else if (task.state === TaskState.RUNNING) this.o.consumer.seek(p, task.nextOffset)
    }
    const fresh = partitions.filter((p) => !this.live.has(p))
    if (fresh.length > 0) this.o.consumer.pause(fresh)
    for (const p of fresh) this.start(p, 1)
  }

  /** Processes one fetched batch of a partition and acts on its outcome. */
  async handleBatch(partition: number, records: readonly InputRecord[], hooks: BatchHooks): Promise<void> {
    const task = this.running(partition)
    if (task === undefined) {
      // Not ours yet (initialising) or any more: the task seeks and resumes when it is RUNNING.
      this.o.consumer.pause([partition])
      return
    }
    if (this.backingOff.get(partition) === task) {
      // Fetched before the pause took effect: the seek after the backoff reads these records again.
      this.o.consumer.pause([partition])
      return
    }
    if (!hooks.current() || records.length === 0) return
    let outcome
    try {
      outcome = await task.process(records, hooks.committed, hooks.fetchedAt)
    } catch (e) {
      if (stopsTheWorker(e)) {
        this.o.consumer.pause([partition])
        this.o.onFatal(e as Error)
        return
      }
      // A consumer-level error while the task is fine (its commits stand): the consumer rejoins and the
      // assignment keeps or closes the task.
      if (task.state === TaskState.RUNNING) throw e
      this.o.logger.error({ err: e, partition }, 'task failed')
      this.o.consumer.pause([partition])
      this.fail(partition, task, e, this.policy.afterTaskFailure)
      return
    }
    if (outcome.kind === 'seek') {
      if (outcome.backoffMs <= 0) {
        if (this.running(partition) === task) this.o.consumer.seek(partition, outcome.offset)
        return
      }
      // Not a sleep here: kafkajs fetches the partitions of one broker together and waits for every batch of a
      // fetch before the next, so a sleeping batch would stall them all. Pause this one partition instead.
      this.o.consumer.pause([partition])
      this.backingOff.set(partition, task)
      this.track(
        this.wait(outcome.backoffMs).then(() => {
          if (this.backingOff.get(partition) === task) this.backingOff.delete(partition)
          if (this.running(partition) !== task) return // replaced, revoked or stopping: its successor seeks
          this.o.consumer.seek(partition, outcome.offset)
          this.o.consumer.resume([partition])
        }),
      )
    } else if (outcome.kind === 'fenced') {
      // Another owner initialised our transactional id. A rebalance normally follows and tells us the truth;
      // if the partition is still ours after it had time to happen, a fresh task takes it back.
      this.o.consumer.pause([partition])
      if (this.owns(partition, task)) this.live.delete(partition)
      this.restartLater(partition, this.policy.afterFenced, 1)
    }
  }

  /** Resolves once the last task of the partition closed here (now, if none is closing). */
  released(partition: number): Promise<void> {
    return (this.closing.get(partition) ?? Promise.resolve()).catch(() => undefined)
  }

  /** Resolves once no background work (initialisations, closes, scheduled restarts) is pending. Bounded. */
  async settled(): Promise<void> {
    for (let i = 0; i < 1000 && this.pending.size > 0; i++) await Promise.allSettled([...this.pending])
  }

  /** Closes every task (each after its batch in flight) and waits for background work. */
  async stop(): Promise<void> {
    this.stopping = true
    this.stopped()
    await Promise.allSettled([...this.pending])
    await Promise.allSettled([...this.live.values()].map((t) => t.close()))
    this.live.clear()
  }

  private running(p: number): T | undefined {
    const task = this.live.get(p)
    return task !== undefined && task.state === TaskState.RUNNING && !this.stopping ? task : undefined
  }

  /** Whether `task` is still the partition's task (a task replaced or dropped meanwhile must not act). */
  private owns(p: number, task: T): boolean {
    return !this.stopping && this.live.get(p) === task
  }

  private start(p: number, attempt: number): void {
    const task = this.o.createTask(p)
    this.live.set(p, task)
    this.track(this.initialize(task, attempt))
  }

  private async initialize(task: T, attempt: number): Promise<void> {
    const p = task.partition
    await this.closing.get(p)?.catch(() => undefined)
    try {
      await this.o.beforeOpen?.(p)
      const offset = await task.initialize()
      if (!this.owns(p, task)) return
      if (this.initFailed.delete(p)) this.o.listener?.initFailures?.(p, 0)
      this.o.consumer.seek(p, offset)
      this.o.consumer.resume([p])
    } catch (e) {
      if (!this.owns(p, task)) {
        this.close(task)
        return
      }
      this.initFailed.set(p, { inARow: attempt, error: e })
      this.o.listener?.initFailures?.(p, attempt)
      const stalled = attempt === STALLED_AFTER_INIT_FAILURES
      this.o.logger[stalled ? 'error' : 'warn'](
        { err: e, partition: p, attempt },
        stalled
          ? 'task initialisation keeps failing: the partition makes no progress (see the error; retrying)'
          : 'task initialisation failed',
      )
      this.fail(p, task, e, this.policy.afterInitFailure(attempt), attempt + 1)
    }
  }

  /** A failed task cannot be reused: close it and, while the partition is ours, replace it later. */
  private fail(p: number, task: T, e: unknown, delayMs: number, attempt = 1): void {
    this.close(task)
    if (!this.owns(p, task)) return
    this.live.delete(p)
    const restart = this.o.autoRestart === false ? undefined : delayMs
    this.o.listener?.taskFailed?.(p, e, restart)
    this.restartLater(p, delayMs, attempt)
  }

  private drop(p: number, task: T): void {
    this.live.delete(p)
    this.close(task)
  }

  private close(task: T): void {
    const closed = task.close()
    this.closing.set(task.partition, closed)
    this.track(closed)
  }

  /** Starts a fresh task for `p` after `delayMs`, if `p` is still ours and has no task by then. */
  private restartLater(p: number, delayMs: number, attempt: number): void {
    if (this.o.autoRestart === false) return
    this.track(
      this.wait(delayMs).then(() => {
        if (this.assigned.has(p) && !this.live.has(p) && !this.stopping) this.start(p, attempt)
      }),
    )
  }

  /** Waits `ms`, or less when the manager stops. */
  private wait(ms: number): Promise<unknown> {
    return Promise.race([this.sleep(ms), this.stopSignal])
  }

  private track(p: Promise<unknown>): void {
    const wrapped = p.catch((e: unknown) => this.o.logger.error({ err: e }, 'background task error'))
    this.pending.add(wrapped)
    void wrapped.finally(() => this.pending.delete(wrapped))
  }
}
