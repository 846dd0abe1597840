/**
 * StreamTask equivalent: owns one input partition — its producer, its snapshot store, its cache.
 * Lifecycle in task-state.ts; restore in restore.ts; the commit sequence in commit.ts. What the caller does
 * with a batch's outcome is decided in one place: the task manager (task-manager.ts).
 */
import type { Logger } from 'pino'
import type { SnapshotRecord } from '../domain/envelopes.ts'
import { BatchAbortedError, recoveryOf, stopsTheWorker, TaskClosedError, TaskFencedError } from '../errors.ts'
import type { Topology } from '../topology/loader.ts'
import type { IndexedEvent, VersionRange } from '../state/event-index.ts'
import type { Checkpoint, SnapshotStore } from '../state/store.ts'
import { commitBatch, noSteps, writeTransaction, type TransactionSteps } from './commit.ts'
import { transactionTimeout } from './fence.ts'
import type { InputRecord, Partitioner, TaskPorts, TransactionalProducer } from './ports.ts'
import { CommandProcessor, type BatchResult } from './processor.ts'
import { restoreIndex } from './event-index.ts'
import { InputOffsetSchedule } from './input-offset.ts'
import { restoreStore } from './restore.ts'
import { SnapshotCache } from './snapshot-cache.ts'
import { loadSnapshots, storedSnapshots } from './snapshot-loader.ts'
import { checkTransition, TaskState } from './task-state.ts'

export interface TaskListener {
  stateChanged?(task: Task, from: TaskState, to: TaskState): void
  /** `seconds`: the whole batch (snapshots, decide, commit); `detail.commitSeconds`: the commit alone. */
  committed?(task: Task, batch: BatchResult, seconds: number, detail: CommitDetail): void
  aborted?(task: Task, error: unknown): void
  restored?(task: Task, records: number, seconds: number): void
  /** Restore progress: changelog offsets still to replay (at the start, after each chunk, 0 at the end). */
  restoreProgress?(task: Task, remaining: number): void
  fenced?(task: Task): void
  /** Fenced because its transaction outlived processing.transactionTimeoutMs (open `openMs`), not by another owner. */
  transactionTimedOut?(task: Task, openMs: number): void
}

/** For metrics: what a committed batch consumed, and where its time went (seconds). */
export interface CommitDetail {
  commitSeconds: number
  inputs: readonly InputRecord[]
  /**
   * The batch's wall-clock split: waiting behind the partition's previous batch after the fetch handed it over, loading
   * snapshots (cache, store), decoding and deciding, then the transaction's steps and the store write (commit.ts).
   */
  split: { wait: number; load: number; decide: number } & TransactionSteps
}

/** What the caller (the task manager) must do after process(). */
export type ProcessOutcome =
  | { kind: 'done' }
  /** Re-position the consumer at `offset` (records after it were not committed). */
  | { kind: 'seek'; offset: bigint; backoffMs: number }
  /** Fenced: this task is closed and must not be used again. */
  | { kind: 'fenced' }

export interface TaskOptions {
  topology: Topology
  partition: number
  ports: TaskPorts
  logger: Logger
  now?: () => number
  listener?: TaskListener
  /** Bound on one restore (changelog read). */
  restoreTimeoutMs?: number
  /** Quiet time after which a partition whose input offset is behind commits it (input-offset.ts). */
  offsetFlushQuietMs?: number
  /** How producers route keys to the commands topic's partitions: commands elsewhere are `misrouted`. */
  partitioner: Partitioner
  /** The replies topic's partition count: replies go to their command's input partition (OutputOptions). */
  repliesPartitions?: number
}

export class Task {
  readonly id: string
  readonly partition: number
  private _state: TaskState = TaskState.CREATED
  private store: SnapshotStore | undefined
  private producer: TransactionalProducer | undefined
  private checkpoint: Checkpoint = { changelogOffset: 0n, inputOffset: -1n }
  private readonly cache: SnapshotCache
  private readonly processor: CommandProcessor
  private readonly now: () => number
  private failures = 0
  private restoreTrace: Record<string, unknown> | undefined
  private processing: Promise<unknown> = Promise.resolve()
  private inFlight = 0
  /** Set by close(): no new transaction starts; the one in flight ends (commits or aborts) first. */
  private closeRequested = false
  /** Which transactions carry the input offset, and when a quiet partition commits it on its own (flushOffsets). */
  private readonly offsets: InputOffsetSchedule
  /** An offsets-only transaction ended in doubt (commit unknown, abort failed): the next batch re-initialises first. */
  private producerInDoubt: unknown
  private closed: Promise<void> | undefined
  /** Next input offset to process; records below it are already committed and are skipped. */
  nextOffset = 0n
  /** Changelog records replayed by the last restore (0 after a clean restart). */
  lastRestoreRecords = 0
  /** Where the last restore started (the store's checkpoint) and the changelog end it read to. */
  lastRestoreTrace: { storeCheckpoint: Checkpoint; changelogEnd: bigint } | undefined

  constructor(private readonly o: TaskOptions) {
    this.partition = o.partition
    this.id = `${o.topology.definition.name}[${o.partition}]`
    const d = o.topology.definition
    this.cache = new SnapshotCache({
      entries: d.processing.snapshotCacheSize,
      bytes: d.processing.snapshotCacheBytes,
    })
    this.now = o.now ?? Date.now
    this.offsets = new InputOffsetSchedule({
      intervalMs: d.processing.offsetCommitIntervalMs,
      ...(o.offsetFlushQuietMs === undefined ? {} : { quietMs: o.offsetFlushQuietMs }),
      flush: () => void this.flushOffsets(false),
    })
    this.processor = new CommandProcessor({
      decider: o.topology.decider,
      topics: o.topology.topics,
      topologyName: d.name,
      serialization: d.serialization,
      dedupeWindow: d.dedupe.perAggregate,
      outcomeEncoding: d.dedupe.outcomes,
      onDecideError: d.errors.onDecideError,
      maxRecordBytes: d.processing.maxRecordBytes,
      now: this.now,
      routing: { partitions: d.partitions, partitionOf: o.partitioner },
      ...(o.repliesPartitions ? { repliesPartitions: o.repliesPartitions } : {}),
    })
  }

  get state(): TaskState {
    return this._state
  }

  /** What the snapshot cache holds: entries and their encoded bytes (for metrics). */
  get cacheUsage(): { entries: number; bytes: number } {
    return { entries: this.cache.size, bytes: this.cache.bytes }
  }

  /** How far the task's store is in the changelog (its checkpoint), once restored; for the assigner. */
  get storeOffset(): bigint | undefined {
    return this._state === TaskState.RUNNING ? this.checkpoint.changelogOffset : undefined
  }

  private transition(to: TaskState): void {
    checkTransition(this._state, to, this.id)
    const from = this._state
    this._state = to
    this.o.logger.debug({ from, to }, 'task state')
    this.o.listener?.stateChanged?.(this, from, to)
  }

  /** INITIALIZING -> RESTORING -> RUNNING. Returns the input offset to resume at. */
  async initialize(): Promise<bigint> {
    if (this._state !== TaskState.INITIALIZING) this.transition(TaskState.INITIALIZING)
    this.cache.clear()
    if (this.store === undefined) {
      const store = await this.o.ports.openStore()
      // close() may have run while the store was opening: never leak an open LevelDB (it holds a file lock).
      if (this.isClosingOrClosed()) {
        await store.close()
        throw new TaskClosedError(`task ${this.id} was closed while initialising`)
      }
      this.store = store
    }
    if (this.producer) await this.producer.close()
    this.producer = this.o.ports.createProducer()
    if (this.isClosingOrClosed()) throw new TaskClosedError(`task ${this.id} was closed while initialising`)
    // InitProducerId first: fences the previous owner and ends its open transaction, so the committed
    // offset and the changelog end read below are final.
    await this.producer.init()
    const committed = await this.o.ports.readCommittedOffset()

    this.transition(TaskState.RESTORING)
    await this.restore()

    // Resume at max(committed, marker + 1): the committed offset read above may be stale.
    const fromMarker = this.checkpoint.inputOffset + 1n
    const fromGroup = committed ?? 0n
    this.nextOffset = fromMarker > fromGroup ? fromMarker : fromGroup
    this.offsets.reset(committed)
    this.producerInDoubt = undefined
    this.transition(TaskState.RUNNING)
    // Resumed after the marker (the previous owner's last offsets were not committed): the group catches up too.
    this.offsets.arm(this.nextOffset)
    // Everything the resume offset was derived from, so a wrong resume can be traced from the log alone.
    this.o.logger.info(
      {
        resumeAt: this.nextOffset,
        committed,
        restored: this.lastRestoreRecords,
        ...this.restoreTrace,
        checkpoint: this.checkpoint,
      },
      'task running',
    )
    return this.nextOffset
  }

  private async restore(): Promise<void> {
    const started = performance.now()
    const result = await restoreStore(this.store!, this.o.ports.changelog, {
      timeoutMs: this.o.restoreTimeoutMs ?? 600_000,
      progress: (remaining) => this.o.listener?.restoreProgress?.(this, remaining),
    })
    const index = await restoreIndex(this.store!, this.o.ports.events, result.checkpoint, {
      timeoutMs: this.o.restoreTimeoutMs ?? 600_000,
      onSkipped: (offset, why) =>
        this.o.logger.warn({ offset, why }, 'events topic record not indexed (not written by a worker)'),
    })
    this.checkpoint = index.checkpoint
    this.restoreTrace = { ...result.trace, index: { ...index.trace, records: index.records } }
    this.lastRestoreRecords = result.records
    this.lastRestoreTrace = result.trace
    this.o.listener?.restored?.(this, result.records, (performance.now() - started) / 1000)
  }

  /**
   * Processes records of this partition (in offset order), one transaction per chunk of at most
   * maxBatchCommands. `onCommitted(lastOffset)` is called after each commit (resolve offset, heartbeat).
   */
  process(
    records: readonly InputRecord[],
    onCommitted: (lastOffset: bigint) => Promise<void> | void,
    fetchedAt?: number,
  ): Promise<ProcessOutcome> {
    // One batch at a time per partition, whatever the caller does. kafkajs promises not to run one
    // partition in two eachBatch calls at once; if that ever broke, both calls would read the same state
    // and offsets and both would commit. Queued, the second call sees the first's nextOffset and skips
    // what is done (the warning says it happened; in the runs so far it never did).
    if (this._state !== TaskState.RUNNING)
      return Promise.reject(new Error(`task ${this.id} is ${this._state}, not RUNNING`))
    if (this.inFlight > 0)
      this.o.logger.warn(
        { partition: this.partition },
        'overlapping batches for one partition; running them one after the other',
      )
    this.inFlight++
    const handedOver = fetchedAt ?? performance.now()
    const run = this.processing.then(() => this.processNow(records, onCommitted, handedOver))
    this.processing = run.then(
      () => undefined,
      () => undefined,
    )
    return run.finally(() => this.inFlight--)
  }

  private async processNow(
    records: readonly InputRecord[],
    onCommitted: (lastOffset: bigint) => Promise<void> | void,
    handedOver: number,
  ): Promise<ProcessOutcome> {
    const next = this.nextOffset
    const fresh = records.filter((r) => r.offset >= next)
    const max = this.o.topology.definition.processing.maxBatchCommands
    for (let i = 0; i < fresh.length; i += max) {
      // Closed (fenced, revoked) meanwhile, or a close is waiting for this batch: start no new transaction.
      if (this._state !== TaskState.RUNNING || this.closeRequested) return { kind: 'done' }
      const chunk = fresh.slice(i, i + max)
      const outcome = await this.processChunk(chunk, i === 0 ? handedOver : undefined)
      if (outcome.kind !== 'done') return outcome
      await onCommitted(chunk[chunk.length - 1]!.offset)
    }
    return { kind: 'done' }
  }

  private async processChunk(
    chunk: readonly InputRecord[],
    handedOver: number | undefined,
  ): Promise<ProcessOutcome> {
    if (this.producerInDoubt !== undefined) {
      const cause = this.producerInDoubt
      this.producerInDoubt = undefined
      return this.reinitialize(cause)
    }
    const started = performance.now()
    const { decoded, aggregateIds } = this.processor.decodeBatch(chunk)
    const decodedAt = performance.now()
    let batch: BatchResult
    let loaded = decodedAt
    try {
      const overlay = await loadSnapshots(aggregateIds, this.cache, this.store!, this.o.topology)
      loaded = performance.now()
      batch = this.processor.processDecoded(decoded, overlay)
    } catch (e) {
      if (stopsTheWorker(e)) throw e
      return this.retryLater(chunk[0]!.offset, e)
    }
    const commitStarted = performance.now()
    const openedAt = this.now()
    const steps: TransactionSteps = noSteps()
    // The input offset at most once per processing.offsetCommitIntervalMs (input-offset.ts): the marker is always there.
    const commitsInputOffset = this.offsets.due(this.producer!.offsetsOptional)
    try {
      this.checkpoint = await commitBatch(
        {
          producer: this.producer!,
          store: this.store!,
          changelogTopic: this.o.topology.topics.changelog,
          eventsTopic: this.o.topology.topics.events,
          partition: this.partition,
          serialization: this.o.topology.definition.serialization,
          previous: this.checkpoint,
          commitsInputOffset,
        },
        batch,
        steps,
      )
    } catch (e) {
      const recovery = recoveryOf(e)
      if (recovery === 'task-migrated') {
        const openMs = this.now() - openedAt
        const timedOut = transactionTimeout(e, openMs, chunk.length, this.o.topology.definition.processing)
        if (timedOut) {
          this.o.logger.error(timedOut.fields, timedOut.message)
          this.o.listener?.transactionTimedOut?.(this, openMs)
        } else {
          this.o.logger.warn({ err: e }, 'task fenced: another owner has this partition; closing it')
          this.o.listener?.fenced?.(this)
        }
        await this.closeNow()
        return { kind: 'fenced' }
      }
      if (recovery === 'retriable') return this.retryLater(chunk[0]!.offset, e)
      // Commit outcome unknown, abort failed, or LevelDB behind Kafka (task-corrupted): start over from what
      // Kafka holds.
      this.o.listener?.aborted?.(this, e)
      this.o.logger.warn({ err: e }, 're-initialising the task')
      return this.reinitialize(e)
    }
    for (const s of batch.snapshots.values())
      this.cache.set(s, batch.snapshotBytes.get(s.aggregateId)!.length)
    this.nextOffset = batch.lastOffset + 1n
    if (commitsInputOffset) this.offsets.committed(this.nextOffset, commitStarted)
    else this.offsets.arm(this.nextOffset)
    this.failures = 0
    const ended = performance.now()
    this.o.listener?.committed?.(this, batch, (ended - started) / 1000, {
      commitSeconds: (ended - commitStarted) / 1000,
      inputs: chunk,
      split: {
        wait: handedOver === undefined ? 0 : (started - handedOver) / 1000,
        load: (loaded - decodedAt) / 1000,
        decide: (decodedAt - started + commitStarted - loaded) / 1000, // decoding, then deciding
        ...steps,
      },
    })
    return { kind: 'done' }
  }

  /**
   * Commits the input offset in a transaction of its own, after the batch in flight: when the partition went quiet
   * with its offset behind (no later batch would carry it), and when the task closes (the next owner and monitoring
   * read an exact offset). Never fails: fenced closes the task, doubt makes the next batch re-initialise first.
   */
  private flushOffsets(closing: boolean): Promise<void> {
    const run = this.processing
      .then(() => this.flushNow(closing))
      .catch((e: unknown) => {
        this.o.logger.warn({ err: e }, 'committing the input offset failed')
      })
    this.processing = run
    return run
  }

  private async flushNow(closing: boolean): Promise<void> {
    const next = this.nextOffset
    if (!this.offsets.behind(next) || this._state !== TaskState.RUNNING) return
    if ((this.closeRequested && !closing) || this.producerInDoubt !== undefined) return
    try {
      const started = performance.now()
      await writeTransaction(this.producer!, [], next, [])
      this.offsets.committed(next, started)
    } catch (e) {
      if (recoveryOf(e) === 'task-migrated') {
        this.o.logger.warn({ err: e }, 'task fenced while committing its input offset; closing it')
        if (!closing) this.o.listener?.fenced?.(this)
        await this.closeNow()
        return
      }
      // Aborted: nothing was committed, try again later. Otherwise the producer's transaction is in doubt.
      if (!(e instanceof BatchAbortedError)) this.producerInDoubt = e
      this.offsets.failed()
      this.o.logger.warn({ err: e, inputOffset: next }, 'committing the input offset failed')
      if (!closing && this.producerInDoubt === undefined) this.offsets.arm(next)
    }
  }

  private async reinitialize(cause: unknown): Promise<ProcessOutcome> {
    const kind = (cause as { code?: string }).code ?? 'unexpected'
    try {
      this.transition(TaskState.INITIALIZING)
      const offset = await this.initialize()
      return { kind: 'seek', offset, backoffMs: 0 }
    } catch (e) {
      if (recoveryOf(e) === 'task-migrated') {
        if (e instanceof TaskFencedError) this.o.listener?.fenced?.(this)
        await this.closeNow()
        return { kind: 'fenced' }
      }
      this.o.logger.error({ err: e, kind }, 're-initialisation failed; closing the task')
      await this.closeNow()
      throw e
    }
  }

  private retryLater(offset: bigint, e: unknown): ProcessOutcome {
    this.failures++
    const backoffMs = Math.min(100 * 2 ** Math.min(this.failures - 1, 6), 5000)
    this.o.listener?.aborted?.(this, e)
    this.o.logger.warn({ err: e, offset, backoffMs }, 'batch aborted; will retry from its first offset')
    return { kind: 'seek', offset, backoffMs }
  }

  /** Snapshot of one aggregate as committed (for queries and tests). */
  async committedSnapshot(aggregateId: string): Promise<SnapshotRecord | undefined> {
    const store = this.store
    return (
      this.cache.get(aggregateId) ??
      (store && (await storedSnapshots(store, [aggregateId], this.o.topology))[0])
    )
  }

  /** One aggregate's committed events from the index (version order). */
  async committedEvents(aggregateId: string, range: VersionRange): Promise<IndexedEvent[]> {
    if (this.store === undefined) throw new TaskClosedError(`task ${this.id} has no open store`)
    return this.store.events(aggregateId, range)
  }

  /** The partition's committed events from the index in commit order, from events-topic offset `offset` on. */
  async committedEventsFrom(offset: bigint, limit: number): Promise<IndexedEvent[]> {
    if (this.store === undefined) throw new TaskClosedError(`task ${this.id} has no open store`)
    return this.store.eventsFrom(offset, limit)
  }

  private isClosingOrClosed(): boolean {
    return this.closeRequested || this._state === TaskState.CLOSING || this._state === TaskState.CLOSED
  }

  /**
   * Resolves when the task is CLOSED (its store and producer released), also when called during a close. A batch
   * in flight ends first (its transaction commits or aborts; no new one starts), so a revoked partition's last
   * commit is not cut in half and its LevelDB is released only after it.
   */
  close(): Promise<void> {
    this.closeRequested = true
    this.offsets.cancel()
    return this.flushOffsets(true).then(() => this.closeNow())
  }

  /** Closes without waiting for the batch in flight: for the task's own paths inside that batch (fenced, failed). */
  private closeNow(): Promise<void> {
    this.closeRequested = true
    this.closed ??= this.doClose()
    return this.closed
  }

  private async doClose(): Promise<void> {
    if (this._state === TaskState.CLOSED) return
    this.offsets.cancel()
    this.transition(TaskState.CLOSING)
    await this.producer?.close().catch(() => undefined)
    await this.store?.close().catch(() => undefined)
    this.producer = undefined
    this.store = undefined
    this.cache.clear()
    this.transition(TaskState.CLOSED)
  }
}
