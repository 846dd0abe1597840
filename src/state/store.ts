/**
 * The snapshot store port: one per task (input partition). Implementations: LevelSnapshotStore (LevelDB,
 * the worker) and MemorySnapshotStore (tests, TopologyTestDriver).
 *
 * Invariant kept by the task: the store is only written after a Kafka commit (or while restoring from the
 * committed changelog), so it is always a prefix of the committed changelog and never needs wiping.
 */
import type { SnapshotRecord } from '../domain/envelopes.ts'

export interface Checkpoint {
  /** Next changelog offset whose record is not yet in the store: restore resumes here. */
  changelogOffset: bigint
  /** Last input (commands topic) offset whose effects are in the store; -1 = none. */
  inputOffset: bigint
}

export interface SnapshotStore {
  getMany(aggregateIds: readonly string[]): Promise<(SnapshotRecord | undefined)[]>
  /** Writes the snapshots and the checkpoint in one atomic batch. */
  write(snapshots: Iterable<SnapshotRecord>, checkpoint: Checkpoint): Promise<void>
  readCheckpoint(): Promise<Checkpoint | undefined>
  /** Every snapshot (for verification and the CLI); order unspecified. */
  entries(): AsyncIterable<SnapshotRecord>
  close(): Promise<void>
}

export class MemorySnapshotStore implements SnapshotStore {
  readonly snapshots = new Map<string, SnapshotRecord>()
  checkpoint: Checkpoint | undefined
  writes = 0

  async getMany(ids: readonly string[]): Promise<(SnapshotRecord | undefined)[]> {
    return ids.map((id) => clone(this.snapshots.get(id)))
  }

  async write(snapshots: Iterable<SnapshotRecord>, checkpoint: Checkpoint): Promise<void> {
    for (const s of snapshots) this.snapshots.set(s.aggregateId, clone(s)!)
    this.checkpoint = { ...checkpoint }
    this.writes++
  }

  async readCheckpoint(): Promise<Checkpoint | undefined> {
    return this.checkpoint && { ...this.checkpoint }
  }

  async *entries(): AsyncIterable<SnapshotRecord> {
    for (const s of this.snapshots.values()) yield clone(s)!
  }

  async close(): Promise<void> {}
}

// Stored values must not alias the task's in-memory objects (as LevelDB bytes would not).
const clone = <T>(v: T): T => (v === undefined ? v : structuredClone(v))
