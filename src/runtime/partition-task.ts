/**
 * The lifecycle every task of a projection shares (the router's and the projection's), as Task (task.ts) runs it
 * for a decider: one input partition, its own transactional producer, one transaction per chunk of records, a
 * local state written only after the commit. States and transitions in task-state.ts.
 *
 * A subclass says what its state is and what one chunk does; this class owns the order (InitProducerId before
 * the committed offset is read, restore before RUNNING, resume at max(committed, restored + 1)), one batch at a
 * time per partition, and what a failure means (the error's recovery, errors.ts):
 *   task-migrated .. fenced: close, the task manager decides       task-corrupted .. re-initialise (restore the tail)
 *   stops the worker: rethrown                                     anything else ... nothing committed: retry later
 */
import type { Logger } from 'pino'
import { recoveryOf, stopsTheWorker, TaskClosedError, TaskFencedError } from '../errors.ts'
import type { InputRecord, TransactionalProducer } from './ports.ts'
import type { ProcessOutcome } from './task.ts'
import { checkTransition, TaskState } from './task-state.ts'

export interface PartitionTaskOptions {
  id: string
  partition: number
  logger: Logger
  maxBatchRecords: number
  createProducer(): TransactionalProducer
  /** The group's committed offset (next to read) of the input partition, undefined when none. */
  readCommittedOffset(): Promise<bigint | undefined>
  stateChanged?(task: PartitionTask, from: TaskState, to: TaskState): void
}

export abstract class PartitionTask {
  readonly id: string
  readonly partition: number
  private _state: TaskState = TaskState.CREATED
  protected producer: TransactionalProducer | undefined
  private failures = 0
  private processing: Promise<unknown> = Promise.resolve()
  private closeRequested = false
  private closed: Promise<void> | undefined
  /** Next input offset to process; records below it are already committed and are skipped. */
  nextOffset = 0n

  constructor(protected readonly base: PartitionTaskOptions) {
    this.id = base.id
    this.partition = base.partition
  }

  /** Opens the task's local state (its store), if it has one. */
  protected abstract openState(): Promise<void>
  /** Brings the local state up to the committed changelog; returns the last input offset it includes (-1n: none). */
  protected abstract restoreState(): Promise<bigint>
  /** Processes one chunk and commits it (one transaction), then writes the local state. */
  protected abstract commitChunk(
    chunk: readonly InputRecord[],
    producer: TransactionalProducer,
  ): Promise<void>
  /** Releases the local state (after the last batch). */
  protected abstract closeState(): Promise<void>

  get state(): TaskState {
    return this._state
  }

  protected get log(): Logger {
    return this.base.logger
  }

  private transition(to: TaskState): void {
    checkTransition(this._state, to, this.id)
    const from = this._state
    this._state = to
    this.base.stateChanged?.(this, from, to)
  }

  protected isClosingOrClosed(): boolean {
    return this.closeRequested || this._state === TaskState.CLOSING || this._state === TaskState.CLOSED
  }

  /** INITIALIZING -> RESTORING -> RUNNING. Returns the input offset to resume at. */
  async initialize(): Promise<bigint> {
    if (this._state !== TaskState.INITIALIZING) this.transition(TaskState.INITIALIZING)
    await this.openState()
    if (this.isClosingOrClosed()) throw new TaskClosedError(`task ${this.id} was closed while initialising`)
    if (this.producer) await this.producer.close()
    this.producer = this.base.createProducer()
    // InitProducerId first: fences the previous owner and ends its open transaction, so the committed offset and
    // the changelog end read below are final.
    await this.producer.init()
    const committed = await this.base.readCommittedOffset()
    this.transition(TaskState.RESTORING)
    const restored = await this.restoreState()
    // max(committed, restored + 1): the committed offset read above may be stale.
    const fromState = restored + 1n
    const fromGroup = committed ?? 0n
    this.nextOffset = fromState > fromGroup ? fromState : fromGroup
    this.transition(TaskState.RUNNING)
    this.log.info({ resumeAt: this.nextOffset, committed, restoredTo: restored }, 'task running')
    return this.nextOffset
  }

  /** Processes records of this partition in offset order, one transaction per chunk; one call at a time. */
  process(
    records: readonly InputRecord[],
    onCommitted: (lastOffset: bigint) => Promise<void> | void,
  ): Promise<ProcessOutcome> {
    if (this._state !== TaskState.RUNNING)
      return Promise.reject(new Error(`task ${this.id} is ${this._state}, not RUNNING`))
    const run = this.processing.then(() => this.processNow(records, onCommitted))
    this.processing = run.then(
      () => undefined,
      () => undefined,
    )
    return run
  }

  private async processNow(
    records: readonly InputRecord[],
    onCommitted: (lastOffset: bigint) => Promise<void> | void,
  ): Promise<ProcessOutcome> {
    const next = this.nextOffset
    const fresh = records.filter((r) => r.offset >= next)
    const max = this.base.maxBatchRecords
    for (let i = 0; i < fresh.length; i += max) {
      if (this._state !== TaskState.RUNNING || this.closeRequested) return { kind: 'done' }
      const chunk = fresh.slice(i, i + max)
      const outcome = await this.processChunk(chunk)
      if (outcome.kind !== 'done') return outcome
      await onCommitted(chunk[chunk.length - 1]!.offset)
    }
    return { kind: 'done' }
  }

  private async processChunk(chunk: readonly InputRecord[]): Promise<ProcessOutcome> {
    try {
      await this.commitChunk(chunk, this.producer!)
    } catch (e) {
      if (stopsTheWorker(e)) throw e
      const recovery = recoveryOf(e)
      if (recovery === 'task-migrated') {
        this.log.warn({ err: e }, 'task fenced: another owner has this partition; closing it')
        await this.closeNow()
        return { kind: 'fenced' }
      }
      if (recovery === 'task-corrupted') {
        this.log.warn({ err: e }, 're-initialising the task')
        return this.reinitialize(e)
      }
      this.failures++
      const backoffMs = Math.min(100 * 2 ** Math.min(this.failures - 1, 6), 5000)
      this.log.warn(
        { err: e, offset: chunk[0]!.offset, backoffMs },
        'batch aborted; will retry from its first offset',
      )
      return { kind: 'seek', offset: chunk[0]!.offset, backoffMs }
    }
    this.nextOffset = chunk[chunk.length - 1]!.offset + 1n
    this.failures = 0
    return { kind: 'done' }
  }

  private async reinitialize(cause: unknown): Promise<ProcessOutcome> {
    try {
      this.transition(TaskState.INITIALIZING)
      const offset = await this.initialize()
      return { kind: 'seek', offset, backoffMs: 0 }
    } catch (e) {
      if (recoveryOf(e) === 'task-migrated') {
        if (!(e instanceof TaskFencedError)) this.log.warn({ err: e }, 'closed while re-initialising')
        await this.closeNow()
        return { kind: 'fenced' }
      }
      this.log.error({ err: e, cause }, 're-initialisation failed; closing the task')
      await this.closeNow()
      throw e
    }
  }

  /** Resolves when CLOSED; a batch in flight ends first (its transaction commits or aborts). */
  close(): Promise<void> {
    this.closeRequested = true
    return this.processing.then(() => this.closeNow())
  }

  protected closeNow(): Promise<void> {
    this.closeRequested = true
    this.closed ??= (async () => {
      if (this._state === TaskState.CLOSED) return
      this.transition(TaskState.CLOSING)
      await this.producer?.close().catch(() => undefined)
      await this.closeState().catch(() => undefined)
      this.producer = undefined
      this.transition(TaskState.CLOSED)
    })()
    return this.closed
  }
}
