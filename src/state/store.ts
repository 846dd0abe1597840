/**
 * The snapshot store port: one per task (input partition). Implementations: LevelSnapshotStore (LevelDB,
 * the worker) and MemorySnapshotStore (tests, TopologyTestDriver).
 *
 * Invariant kept by the task: the store is only written after a Kafka commit (or while restoring from the
 * committed changelog), so it is always a prefix of the committed changelog and never needs wiping.
 */
import { storeCodec } from '../domain/codec.ts'
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

/**
 * The in-memory twin of LevelSnapshotStore: it holds the encoded bytes and hands out decoded copies, through the
 * same codec, so a test sees what the worker sees after an eviction, a restart or a restore (never the live
 * objects of the task).
 */
export class MemorySnapshotStore implements SnapshotStore {
  private readonly stored = new Map<string, Buffer>()
  checkpoint: Checkpoint | undefined
  writes = 0

  async getMany(ids: readonly string[]): Promise<(SnapshotRecord | undefined)[]> {
    return ids.map((id) => decodeStored(this.stored.get(id)))
  }

  async write(snapshots: Iterable<SnapshotRecord>, checkpoint: Checkpoint): Promise<void> {
    for (const s of snapshots) this.stored.set(s.aggregateId, storeCodec.encode(s))
    this.checkpoint = { ...checkpoint }
    this.writes++
  }

  async readCheckpoint(): Promise<Checkpoint | undefined> {
    return this.checkpoint && { ...this.checkpoint }
  }

  async *entries(): AsyncIterable<SnapshotRecord> {
    for (const bytes of this.stored.values()) yield decodeStored(bytes)!
  }

  async close(): Promise<void> {}
}

const decodeStored = (bytes: Buffer | undefined): SnapshotRecord | undefined =>
  bytes === undefined ? undefined : (storeCodec.decode(bytes) as SnapshotRecord)
