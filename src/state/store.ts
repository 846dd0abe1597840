/**
 * The snapshot store port: one per task (input partition). Implementations: LevelSnapshotStore (LevelDB,
 * the worker) and MemorySnapshotStore (tests, TopologyTestDriver). It also holds the partition's event index
 * (state/event-index.ts).
 *
 * Invariant kept by the task: the store is only written after a Kafka commit (or while restoring from the
 * committed changelog and events topic), so it is always a prefix of the committed changelog (snapshots) and of
 * the committed events topic (index), and never needs wiping.
 */
import { withOutcomes } from '../domain/outcome-codec.ts'
import { storeCodec } from '../domain/codec.ts'
import type { SnapshotRecord } from '../domain/envelopes.ts'
import {
  aggregateIdOfKey,
  decodeEntry,
  encodeEntry,
  eventKey,
  offsetKey,
  versionBounds,
  versionOfKey,
  type IndexedEvent,
  type VersionRange,
} from './event-index.ts'

export interface Checkpoint {
  /** Next changelog offset whose record is not yet in the store: restore resumes here. */
  changelogOffset: bigint
  /** Last input (commands topic) offset whose effects are in the store; -1 = none. */
  inputOffset: bigint
  /**
   * Next events-topic offset whose event is not yet in the index: the index restore resumes here. Absent in a
   * store written before the index existed: the index is then restored from the start of the events topic.
   */
  eventsOffset?: bigint
}

/**
 * A snapshot as the store keeps it, already encoded with storeCodec: restore hands the changelog's msgpack bytes
 * over as they are (no decode and re-pack per record).
 */
export interface EncodedSnapshot {
  aggregateId: string
  bytes: Uint8Array
}

export type StoredSnapshot = SnapshotRecord | EncodedSnapshot

/** The bytes the store keeps for `s`. */
export function storedBytes(s: StoredSnapshot): Uint8Array {
  return 'bytes' in s ? s.bytes : storeCodec.encode(s)
}

export interface SnapshotStore {
  /**
   * The snapshots of `aggregateIds` (undefined where none). With `sizes`, sets sizes[i] to the encoded size of the
   * i-th one as stored (0 where none): the bytes were read anyway, so the snapshot cache counts them for free.
   */
  getMany(
    aggregateIds: readonly string[],
    sizes?: (number | undefined)[],
  ): Promise<(SnapshotRecord | undefined)[]>
  /** Writes the snapshots, the index entries of `events` and the checkpoint in one atomic batch. */
  write(
    snapshots: Iterable<StoredSnapshot>,
    checkpoint: Checkpoint,
    events?: readonly IndexedEvent[],
  ): Promise<void>
  readCheckpoint(): Promise<Checkpoint | undefined>
  /** Every snapshot (for verification and the CLI); order unspecified. */
  entries(): AsyncIterable<SnapshotRecord>
  /** One aggregate's indexed events in version order, within `range` (at most range.limit of them). */
  events(aggregateId: string, range?: VersionRange): Promise<IndexedEvent[]>
  /** Indexed events of the partition in commit (offset) order from `offset` on, at most `limit`. */
  eventsFrom(offset: bigint, limit: number): Promise<IndexedEvent[]>
  close(): Promise<void>
}

/**
 * The in-memory twin of LevelSnapshotStore: it holds the encoded bytes and hands out decoded copies, through the
 * same codec, so a test sees what the worker sees after an eviction, a restart or a restore (never the live
 * objects of the task).
 */
export class MemorySnapshotStore implements SnapshotStore {
  private readonly stored = new Map<string, Uint8Array>()
  /** The index as LevelSnapshotStore keys it (state/event-index.ts): "e/..." -> entry, "o/..." -> "e/..." key. */
  private readonly index = new Map<string, Buffer | string>()
  checkpoint: Checkpoint | undefined
  writes = 0

  async getMany(
    ids: readonly string[],
    sizes?: (number | undefined)[],
  ): Promise<(SnapshotRecord | undefined)[]> {
    return ids.map((id, i) => {
      const bytes = this.stored.get(id)
      if (sizes !== undefined) sizes[i] = bytes?.length ?? 0
      return decodeStored(bytes)
    })
  }

  async write(
    snapshots: Iterable<StoredSnapshot>,
    checkpoint: Checkpoint,
    events: readonly IndexedEvent[] = [],
  ): Promise<void> {
    for (const s of snapshots) this.stored.set(s.aggregateId, storedBytes(s))
    for (const e of events) {
      const key = eventKey(e.aggregateId, e.version)
      this.index.set(key, encodeEntry(e))
      this.index.set(offsetKey(e.offset), key)
    }
    this.checkpoint = { ...checkpoint }
    this.writes++
  }

  async readCheckpoint(): Promise<Checkpoint | undefined> {
    return this.checkpoint && { ...this.checkpoint }
  }

  async *entries(): AsyncIterable<SnapshotRecord> {
    for (const bytes of this.stored.values()) yield decodeStored(bytes)!
  }

  async events(aggregateId: string, range: VersionRange = {}): Promise<IndexedEvent[]> {
    const { gte, lte } = versionBounds(aggregateId, range)
    const keys = [...this.index.keys()].filter((k) => k >= gte && k <= lte).sort()
    const limit = range.limit ?? Infinity
    return keys
      .slice(0, limit)
      .map((k) => decodeEntry(aggregateId, versionOfKey(k), this.index.get(k) as Buffer))
  }

  async eventsFrom(offset: bigint, limit: number): Promise<IndexedEvent[]> {
    const from = offsetKey(offset)
    const keys = [...this.index.keys()].filter((k) => k.startsWith('o/') && k >= from).sort()
    return keys.slice(0, limit).map((k) => {
      const key = this.index.get(k) as string
      return decodeEntry(aggregateIdOfKey(key), versionOfKey(key), this.index.get(key) as Buffer)
    })
  }

  async close(): Promise<void> {}
}

const decodeStored = (bytes: Uint8Array | undefined): SnapshotRecord | undefined =>
  bytes === undefined ? undefined : withOutcomes(storeCodec.decode(bytes) as SnapshotRecord)
