/**
 * LevelSnapshotStore: LevelDB under <stateDir>/<topology>/<partition>/.
 *
 * Layout (utf8 keys, msgpack values; snapshots through the topics' codec, storeCodec in domain/codec.ts):
 *   "s/<aggregateId>"  -> SnapshotRecord
 *   "#checkpoint"      -> { changelogOffset, inputOffset } as decimal strings (see Checkpoint in store.ts)
 *   "#meta"            -> { topology, changelogTopic, partition } written once; a mismatch refuses to open
 *   "e/..." and "o/..." -> the event index (its key encoding and entries: event-index.ts)
 * Snapshots, index entries and checkpoint are written in one LevelDB batch, so the checkpoint never claims more
 * than the store holds. Reads of a batch's snapshots use one getMany (one async hop, not one per key).
 */
import { withOutcomes } from '../domain/outcome-codec.ts'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { Level } from 'level'
import { Packr } from 'msgpackr'
import { storeCodec } from '../domain/codec.ts'
import { storedSnapshot } from '../domain/snapshot-bytes.ts'
import type { SnapshotRecord } from '../domain/envelopes.ts'
import { StoreMismatchError, StoreOpenError } from '../errors.ts'
import {
  aggregateIdOfKey,
  decodeEntry,
  encodeEntry,
  eventKey,
  OFFSET_PREFIX,
  offsetKey,
  versionBounds,
  versionOfKey,
  type IndexedEvent,
  type VersionRange,
} from './event-index.ts'
import { storedBytes, type Checkpoint, type SnapshotStore, type StoredSnapshot } from './store.ts'

const packr = new Packr({ useRecords: false, mapsAsObjects: true })
const SNAPSHOT_PREFIX = 's/'
const CHECKPOINT_KEY = '#checkpoint'
const META_KEY = '#meta'

/** Where a task's store lives: `<stateDir>/<topology>/<partition>` (the worker, the CLI and the metrics agree). */
export function storeDir(stateDir: string, topology: string, partition: number): string {
  return path.join(stateDir, topology, String(partition))
}

export interface StoreIdentity {
  topology: string
  changelogTopic: string
  partition: number
}

/**
 * Opens the LevelDB of one task under `dir` (created when missing). `#meta` records the changelog topic and
 * partition the store belongs to on first open; a store of another topic or partition refuses to open
 * (StoreMismatchError), and a store another process holds fails with StoreOpenError. Shared by the snapshot stores
 * and the view stores (view-store.ts).
 */
export async function openTaskDb(
  dir: string,
  identity: { changelogTopic: string; partition: number },
  what: string,
): Promise<Level<string, Uint8Array>> {
  await mkdir(dir, { recursive: true })
  const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  try {
    await db.open()
  } catch (e) {
    throw new StoreOpenError(
      `cannot open the ${what} at ${dir}: ${(e as Error).message}. Is another worker using the same stateDir?`,
      { cause: e },
    )
  }
  const meta = await db.get(META_KEY)
  if (meta === undefined) {
    await db.put(META_KEY, packr.pack(identity))
  } else {
    const found = packr.unpack(meta) as { changelogTopic: string; partition: number }
    if (found.changelogTopic !== identity.changelogTopic || found.partition !== identity.partition) {
      await db.close()
      throw new StoreMismatchError(
        `the ${what} at ${dir} belongs to ${found.changelogTopic}[${found.partition}], not ${identity.changelogTopic}[${identity.partition}]; use another stateDir`,
      )
    }
  }
  return db
}

export class LevelSnapshotStore implements SnapshotStore {
  private constructor(private readonly db: Level<string, Uint8Array>) {}

  static async open(dir: string, identity: StoreIdentity): Promise<LevelSnapshotStore> {
    return new LevelSnapshotStore(await openTaskDb(dir, identity, 'snapshot store'))
  }

  async getMany(
    ids: readonly string[],
    sizes?: (number | undefined)[],
  ): Promise<(SnapshotRecord | undefined)[]> {
    if (ids.length === 0) return []
    const values = await this.db.getMany(ids.map((id) => SNAPSHOT_PREFIX + id))
    if (sizes !== undefined) for (let i = 0; i < values.length; i++) sizes[i] = values[i]?.length ?? 0
    // The next snapshot of each aggregate reuses its encoded dedupe window (src/domain/snapshot-bytes.ts).
    return values.map((v) => (v === undefined ? undefined : storedSnapshot(v)))
  }

  async write(
    snapshots: Iterable<StoredSnapshot>,
    checkpoint: Checkpoint,
    events: readonly IndexedEvent[] = [],
  ): Promise<void> {
    const batch = this.db.batch()
    for (const s of snapshots) batch.put(SNAPSHOT_PREFIX + s.aggregateId, storedBytes(s))
    for (const e of events) {
      const key = eventKey(e.aggregateId, e.version)
      batch.put(key, encodeEntry(e))
      batch.put(offsetKey(e.offset), Buffer.from(key, 'utf8'))
    }
    batch.put(
      CHECKPOINT_KEY,
      packr.pack({
        changelogOffset: checkpoint.changelogOffset.toString(),
        inputOffset: checkpoint.inputOffset.toString(),
        ...(checkpoint.eventsOffset === undefined
          ? {}
          : { eventsOffset: checkpoint.eventsOffset.toString() }),
      }),
    )
    await batch.write()
  }

  async readCheckpoint(): Promise<Checkpoint | undefined> {
    const v = await this.db.get(CHECKPOINT_KEY)
    if (v === undefined) return undefined
    const stored = packr.unpack(v) as { changelogOffset: string; inputOffset: string; eventsOffset?: string }
    return {
      changelogOffset: BigInt(stored.changelogOffset),
      inputOffset: BigInt(stored.inputOffset),
      ...(stored.eventsOffset === undefined ? {} : { eventsOffset: BigInt(stored.eventsOffset) }),
    }
  }

  /** One range read over the aggregate's own keys (event-index.ts): O(its events in the range). */
  async events(aggregateId: string, range: VersionRange = {}): Promise<IndexedEvent[]> {
    const out: IndexedEvent[] = []
    const { gte, lte } = versionBounds(aggregateId, range)
    const it = this.db.iterator({ gte, lte, ...(range.limit === undefined ? {} : { limit: range.limit }) })
    for await (const [key, value] of it) out.push(decodeEntry(aggregateId, versionOfKey(key), value))
    return out
  }

  /** A range read over the offset keys, then one getMany of their entries. */
  async eventsFrom(offset: bigint, limit: number): Promise<IndexedEvent[]> {
    if (limit <= 0) return []
    const keys: string[] = []
    const it = this.db.values({ gte: offsetKey(offset), lt: OFFSET_PREFIX.slice(0, -1) + '0', limit })
    for await (const v of it) keys.push(Buffer.from(v).toString('utf8'))
    const values = keys.length === 0 ? [] : await this.db.getMany(keys)
    return keys.map((key, i) => {
      const value = values[i]
      if (value === undefined)
        throw new Error(`event index: an offset key points to the missing entry ${JSON.stringify(key)}`)
      return decodeEntry(aggregateIdOfKey(key), versionOfKey(key), value)
    })
  }

  async *entries(): AsyncIterable<SnapshotRecord> {
    for await (const v of this.db.values({ gte: SNAPSHOT_PREFIX, lt: SNAPSHOT_PREFIX.slice(0, -1) + '0' })) {
      yield withOutcomes(storeCodec.decode(v) as SnapshotRecord)
    }
  }

  async close(): Promise<void> {
    await this.db.close()
  }
}
