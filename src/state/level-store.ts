/**
 * LevelSnapshotStore: LevelDB under <stateDir>/<topology>/<partition>/.
 *
 * Layout (utf8 keys, msgpack values; snapshots through the topics' codec, storeCodec in domain/codec.ts):
 *   "s/<aggregateId>"  -> SnapshotRecord
 *   "#checkpoint"      -> { changelogOffset, inputOffset } as decimal strings (see Checkpoint in store.ts)
 *   "#meta"            -> { topology, changelogTopic, partition } written once; a mismatch refuses to open
 * Snapshots and checkpoint are written in one LevelDB batch, so the checkpoint never claims more than
 * the store holds. Reads of a batch's snapshots use one getMany (one async hop, not one per key).
 */
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { Level } from 'level'
import { Packr } from 'msgpackr'
import { storeCodec } from '../domain/codec.ts'
import type { SnapshotRecord } from '../domain/envelopes.ts'
import { StoreMismatchError, StoreOpenError } from '../errors.ts'
import type { Checkpoint, SnapshotStore } from './store.ts'

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

export class LevelSnapshotStore implements SnapshotStore {
  private constructor(private readonly db: Level<string, Uint8Array>) {}

  static async open(dir: string, identity: StoreIdentity): Promise<LevelSnapshotStore> {
    await mkdir(dir, { recursive: true })
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    try {
      await db.open()
    } catch (e) {
      throw new StoreOpenError(
        `cannot open the snapshot store at ${dir}: ${(e as Error).message}. Is another worker using the same stateDir?`,
        { cause: e },
      )
    }
    const store = new LevelSnapshotStore(db)
    const meta = await db.get(META_KEY)
    if (meta === undefined) {
      await db.put(META_KEY, packr.pack(identity))
    } else {
      const found = packr.unpack(meta) as StoreIdentity
      if (found.changelogTopic !== identity.changelogTopic || found.partition !== identity.partition) {
        await db.close()
        throw new StoreMismatchError(
          `the snapshot store at ${dir} belongs to ${found.changelogTopic}[${found.partition}], not ${identity.changelogTopic}[${identity.partition}]; use another stateDir`,
        )
      }
    }
    return store
  }

  async getMany(ids: readonly string[]): Promise<(SnapshotRecord | undefined)[]> {
    if (ids.length === 0) return []
    const values = await this.db.getMany(ids.map((id) => SNAPSHOT_PREFIX + id))
    return values.map((v) => (v === undefined ? undefined : (storeCodec.decode(v) as SnapshotRecord)))
  }

  async write(snapshots: Iterable<SnapshotRecord>, checkpoint: Checkpoint): Promise<void> {
    const batch = this.db.batch()
    for (const s of snapshots) batch.put(SNAPSHOT_PREFIX + s.aggregateId, storeCodec.encode(s))
    batch.put(
      CHECKPOINT_KEY,
      packr.pack({
        changelogOffset: checkpoint.changelogOffset.toString(),
        inputOffset: checkpoint.inputOffset.toString(),
      }),
    )
    await batch.write()
  }

  async readCheckpoint(): Promise<Checkpoint | undefined> {
    const v = await this.db.get(CHECKPOINT_KEY)
    if (v === undefined) return undefined
    const stored = packr.unpack(v) as { changelogOffset: string; inputOffset: string }
    return { changelogOffset: BigInt(stored.changelogOffset), inputOffset: BigInt(stored.inputOffset) }
  }

  async *entries(): AsyncIterable<SnapshotRecord> {
    for await (const v of this.db.values({ gte: SNAPSHOT_PREFIX, lt: SNAPSHOT_PREFIX.slice(0, -1) + '0' })) {
      yield storeCodec.decode(v) as SnapshotRecord
    }
  }

  async close(): Promise<void> {
    await this.db.close()
  }
}
