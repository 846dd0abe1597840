/**
 * A standby replica (Kafka Streams' StandbyTask): a warm copy of another worker's partition. It keeps the same
 * LevelDB a task of that partition would open here (same directory, same checkpoint format) up to date by tailing
 * the partition's changelog and events topic read_committed, with the restore code itself: each round is a restore
 * to the partition's last stable offset. When the partition moves here, the standby is closed and the task opens
 * the store and replays only what the standby had not copied yet (O(delta)).
 *
 * A standby never writes to Kafka and is never needed for correctness: the store it leaves is a prefix of the
 * committed changelog and events, as any restore's. Its work is paced: one chunk (one fetch of at most
 * RESTORE_FETCH bytes) at a time, with the event loop free between chunks for the active tasks.
 */
import type { Logger } from 'pino'
import type { Checkpoint, SnapshotStore } from '../state/store.ts'
import { restoreIndex } from './event-index.ts'
import type { ChangelogReader } from './ports.ts'
import { restoreStore } from './restore.ts'

export interface StandbyPorts {
  /** The changelog partition; endOffset() is its last stable offset (a standby tails a partition being written). */
  changelog: ChangelogReader
  /** The events partition, same. */
  events: ChangelogReader
  openStore(): Promise<SnapshotStore>
}

export interface StandbyListener {
  /** After each round: records behind the changelog's stable end (0 or 1 = caught up; 1 is a commit marker). */
  lag?(partition: number, records: number): void
  /** Records copied by a round (changelog and events). */
  replayed?(partition: number, records: number): void
  /** The standby stopped here (its store released). */
  closed?(partition: number): void
}

export interface StandbyTaskOptions {
  partition: number
  ports: StandbyPorts
  logger: Logger
  listener?: StandbyListener
  /** Pause between two rounds once caught up (ms). */
  pollMs?: number
  /** After a failed round (the broker away, a store error), before the next (ms). */
  retryMs?: number
}

/** A standby with at most this many changelog records still to copy counts as caught up (a commit marker is 1). */
export const CAUGHT_UP_RECORDS = 1

export class StandbyTask {
  readonly partition: number
  private readonly stop = new AbortController()
  private wake: (() => void) | undefined
  private running: Promise<void> | undefined
  private _checkpoint: Checkpoint | undefined
  private _lag = Number.POSITIVE_INFINITY
  /** Changelog and events records copied since the standby started. */
  replayed = 0

  constructor(private readonly o: StandbyTaskOptions) {
    this.partition = o.partition
  }

  /** Where the standby's store is (undefined before its first round). */
  get checkpoint(): Checkpoint | undefined {
    return this._checkpoint
  }

  /** Changelog records behind the stable end at the last round (Infinity before the first). */
  get lag(): number {
    return this._lag
  }

  get caughtUp(): boolean {
    return this._lag <= CAUGHT_UP_RECORDS
  }

  start(): void {
    this.running ??= this.run()
  }

  /** Stops after the chunk in flight and releases the store (its LevelDB lock). Idempotent. */
  async close(): Promise<void> {
    this.stop.abort()
    this.wake?.()
    await this.running
  }

  private async run(): Promise<void> {
    const signal = this.stop.signal
    let store: SnapshotStore | undefined
    try {
      while (!signal.aborted) {
        try {
          store ??= await this.o.ports.openStore()
          if (signal.aborted) break
          await this.round(store, signal)
          await this.pause(this.o.pollMs ?? 100)
        } catch (e) {
          if (signal.aborted) break
          this.o.logger.warn({ err: e, partition: this.partition }, 'standby round failed; retrying')
          await this.pause(this.o.retryMs ?? 1000)
        }
      }
    } finally {
      await store?.close().catch(() => undefined)
      this.o.listener?.closed?.(this.partition)
    }
  }

  private async round(store: SnapshotStore, signal: AbortSignal): Promise<void> {
    const timeoutMs = 600_000
    const snapshots = await restoreStore(store, this.o.ports.changelog, {
      timeoutMs,
      signal,
      progress: (remaining) => {
        this._lag = remaining
        this.o.listener?.lag?.(this.partition, remaining)
      },
    })
    const index = await restoreIndex(store, this.o.ports.events, snapshots.checkpoint, { timeoutMs, signal })
    this._checkpoint = index.checkpoint
    // The lag as of this round's start: what was copied is the end read then.
    this._lag = Math.max(0, Number(snapshots.trace.changelogEnd - snapshots.checkpoint.changelogOffset))
    this.o.listener?.lag?.(this.partition, this._lag)
    const copied = snapshots.records + index.records
    if (copied > 0) {
      this.replayed += copied
      this.o.listener?.replayed?.(this.partition, copied)
    }
  }

  private pause(ms: number): Promise<void> {
    if (this.stop.signal.aborted) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        resolve()
      }
      this.wake = done
    })
  }
}

export interface StandbyManagerOptions {
  /** A new standby of the partition (not started). */
  create(partition: number): StandbyTask
  /** Resolves once no task of the partition holds its store here (a revoked task's close). */
  taskReleased(partition: number): Promise<void>
}

/**
 * The standbys of one topology in this worker. The task manager and this manager hand a partition's store to each
 * other: a task opening it first closes the standby (release), a standby starts only after the task here closed.
 */
export class StandbyManager {
  private readonly live = new Map<number, StandbyTask>()
  private readonly closing = new Map<number, Promise<void>>()
  private stopped = false

  constructor(private readonly o: StandbyManagerOptions) {}

  get standbys(): ReadonlyMap<number, StandbyTask> {
    return this.live
  }

  /** The standbys to keep now (`actives`: the partitions whose tasks run here, never standbys at the same time). */
  update(partitions: readonly number[], actives: readonly number[]): void {
    if (this.stopped) return
    const active = new Set(actives)
    const want = new Set(partitions.filter((p) => !active.has(p)))
    for (const p of this.live.keys()) if (!want.has(p)) void this.release(p)
    for (const p of want) {
      if (this.live.has(p)) continue
      const standby = this.o.create(p)
      this.live.set(p, standby)
      void Promise.all([this.o.taskReleased(p), this.closing.get(p)]).then(() => {
        if (this.live.get(p) === standby && !this.stopped) standby.start()
      })
    }
  }

  /** Closes the partition's standby (if any) and resolves once its store is released. */
  release(partition: number): Promise<void> {
    const standby = this.live.get(partition)
    if (standby === undefined) return this.closing.get(partition) ?? Promise.resolve()
    this.live.delete(partition)
    const closed = standby.close()
    this.closing.set(partition, closed)
    void closed.finally(() => {
      if (this.closing.get(partition) === closed) this.closing.delete(partition)
    })
    return closed
  }

  async stop(): Promise<void> {
    this.stopped = true
    await Promise.allSettled([...this.live.keys()].map((p) => this.release(p)))
  }
}
