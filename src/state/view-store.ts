/**
 * The view store of a projection task: its views and how far they go, in LevelDB under
 * <stateDir>/<projection>/<partition>/ (LevelViewStore), with an in-memory twin (MemoryViewStore).
 *
 * Layout (utf8 keys, msgpack values):
 *   "v/<view key>"  -> the view (storeCodec)
 *   "#checkpoint"   -> ViewCheckpoint, offsets as decimal strings
 *   "#meta"         -> { projection, changelogTopic, partition } written once; a mismatch refuses to open
 * Views and checkpoint are written in one batch, after the Kafka commit (or while restoring the committed
 * changelog), so the store is always a prefix of the committed views changelog and never needs wiping; the
 * checkpoint's source positions are what makes re-delivered events (a router replaying after a crash) no-ops.
 */
import { mkdir } from 'node:fs/promises'
import { Level } from 'level'
import { Packr } from 'msgpackr'
import { storeCodec } from '../domain/codec.ts'
import { formatPosition, parsePosition, type SourcePosition } from '../domain/projection-records.ts'
import { StoreMismatchError, StoreOpenError } from '../errors.ts'

const packr = new Packr({ useRecords: false, mapsAsObjects: true })
const VIEW_PREFIX = 'v/'
const VIEW_END = 'v0' // '0' follows '/' bytewise: the first key after every "v/..." key
const CHECKPOINT_KEY = '#checkpoint'
const META_KEY = '#meta'

export interface ViewCheckpoint {
  /** Next views-changelog offset not yet in the store: restore resumes here. */
  changelogOffset: bigint
  /** Last repartition offset whose effects are in the store; -1 = none. */
  inputOffset: bigint
  /** Per source "topic/partition": the last source position applied. */
  sources: Map<string, SourcePosition>
  /** The changelog generation the store was built from (undefined: none seen yet). */
  generation?: string
}

export const emptyViewCheckpoint = (): ViewCheckpoint => ({
  changelogOffset: 0n,
  inputOffset: -1n,
  sources: new Map(),
})

export interface ViewEntry<V = unknown> {
  key: string
  view: V
}

/** Keys in bytewise order: `prefix` (may be ''), strictly after `after` when given, at most `limit`. */
export interface ViewRange {
  prefix?: string
  after?: string
  limit: number
}

export interface ViewStore {
  getMany(keys: readonly string[]): Promise<unknown[]>
  /** Puts the views (null: delete) and the checkpoint in one atomic batch. */
  write(views: ReadonlyMap<string, unknown>, checkpoint: ViewCheckpoint): Promise<void>
  readCheckpoint(): Promise<ViewCheckpoint | undefined>
  range(range: ViewRange): Promise<ViewEntry[]>
  entries(): AsyncIterable<ViewEntry>
  /** Drops every view and the checkpoint (another generation of the changelog: a rebuild happened). */
  clear(): Promise<void>
  close(): Promise<void>
}

interface StoredCheckpoint {
  changelogOffset: string
  inputOffset: string
  sources: Record<string, string>
  generation?: string
}

const toStored = (c: ViewCheckpoint): StoredCheckpoint => ({
  changelogOffset: c.changelogOffset.toString(),
  inputOffset: c.inputOffset.toString(),
  sources: Object.fromEntries([...c.sources].map(([k, p]) => [k, formatPosition(p)])),
  ...(c.generation === undefined ? {} : { generation: c.generation }),
})

const fromStored = (s: StoredCheckpoint): ViewCheckpoint => {
  const sources = new Map<string, SourcePosition>()
  for (const [k, v] of Object.entries(s.sources ?? {})) {
    const p = parsePosition(v)
    if (p !== undefined) sources.set(k, p)
  }
  return {
    changelogOffset: BigInt(s.changelogOffset),
    inputOffset: BigInt(s.inputOffset),
    sources,
    ...(s.generation === undefined ? {} : { generation: s.generation }),
  }
}

const rangeBounds = (r: ViewRange) => {
  const prefix = VIEW_PREFIX + (r.prefix ?? '')
  const lower =
    r.after !== undefined && VIEW_PREFIX + r.after >= prefix ? { gt: VIEW_PREFIX + r.after } : { gte: prefix }
  // Every key starting with `prefix` is < prefix + U+FFFF (in UTF-8 bytewise order too, for BMP text).
  return { ...lower, lt: r.prefix ? prefix + '\uffff' : VIEW_END, limit: r.limit }
}

export interface ViewStoreIdentity {
  projection: string
  changelogTopic: string
  partition: number
}

export class LevelViewStore implements ViewStore {
  private constructor(private readonly db: Level<string, Uint8Array>) {}

  static async open(dir: string, identity: ViewStoreIdentity): Promise<LevelViewStore> {
    await mkdir(dir, { recursive: true })
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    try {
      await db.open()
    } catch (e) {
      throw new StoreOpenError(
        `cannot open the view store at ${dir}: ${(e as Error).message}. Is another worker using the same stateDir?`,
        { cause: e },
      )
    }
    const meta = await db.get(META_KEY)
    if (meta === undefined) await db.put(META_KEY, packr.pack(identity))
    else {
      const found = packr.unpack(meta) as ViewStoreIdentity
      if (found.changelogTopic !== identity.changelogTopic || found.partition !== identity.partition) {
        await db.close()
        throw new StoreMismatchError(
          `the store at ${dir} belongs to ${found.changelogTopic}[${found.partition}], not ${identity.changelogTopic}[${identity.partition}]; use another stateDir`,
        )
      }
    }
    return new LevelViewStore(db)
  }

  async getMany(keys: readonly string[]): Promise<unknown[]> {
    if (keys.length === 0) return []
    const values = await this.db.getMany(keys.map((k) => VIEW_PREFIX + k))
    return values.map((v) => (v === undefined ? undefined : storeCodec.decode(v)))
  }

  async write(views: ReadonlyMap<string, unknown>, checkpoint: ViewCheckpoint): Promise<void> {
    const batch = this.db.batch()
    for (const [k, v] of views) {
      if (v === null) batch.del(VIEW_PREFIX + k)
      else batch.put(VIEW_PREFIX + k, storeCodec.encode(v))
    }
    batch.put(CHECKPOINT_KEY, packr.pack(toStored(checkpoint)))
    await batch.write()
  }

  async readCheckpoint(): Promise<ViewCheckpoint | undefined> {
    const v = await this.db.get(CHECKPOINT_KEY)
    return v === undefined ? undefined : fromStored(packr.unpack(v) as StoredCheckpoint)
  }

  async range(r: ViewRange): Promise<ViewEntry[]> {
    const out: ViewEntry[] = []
    for await (const [k, v] of this.db.iterator(rangeBounds(r)))
      out.push({ key: k.slice(VIEW_PREFIX.length), view: storeCodec.decode(v) })
    return out
  }

  async *entries(): AsyncIterable<ViewEntry> {
    for await (const [k, v] of this.db.iterator({ gte: VIEW_PREFIX, lt: VIEW_END }))
      yield { key: k.slice(VIEW_PREFIX.length), view: storeCodec.decode(v) }
  }

  async clear(): Promise<void> {
    await this.db.clear({ gte: VIEW_PREFIX, lt: VIEW_END })
    await this.db.del(CHECKPOINT_KEY)
  }

  async close(): Promise<void> {
    await this.db.close()
  }
}

/** The in-memory twin: encoded bytes through the same codec, so a test sees what the worker sees after a restart. */
export class MemoryViewStore implements ViewStore {
  private readonly views = new Map<string, Buffer>()
  private checkpoint: StoredCheckpoint | undefined

  async getMany(keys: readonly string[]): Promise<unknown[]> {
    return keys.map((k) => {
      const b = this.views.get(k)
      return b === undefined ? undefined : storeCodec.decode(b)
    })
  }

  async write(views: ReadonlyMap<string, unknown>, checkpoint: ViewCheckpoint): Promise<void> {
    for (const [k, v] of views) {
      if (v === null) this.views.delete(k)
      else this.views.set(k, storeCodec.encode(v))
    }
    this.checkpoint = toStored(checkpoint)
  }

  async readCheckpoint(): Promise<ViewCheckpoint | undefined> {
    return this.checkpoint && fromStored(this.checkpoint)
  }

  async range(r: ViewRange): Promise<ViewEntry[]> {
    const b = rangeBounds(r)
    const keys = [...this.views.keys()]
      .map((k) => VIEW_PREFIX + k)
      .filter((k) => ('gt' in b ? k > b.gt! : k >= b.gte!) && k < b.lt)
      .sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
      .slice(0, r.limit)
    return keys.map((k) => ({ key: k.slice(2), view: storeCodec.decode(this.views.get(k.slice(2))!) }))
  }

  async *entries(): AsyncIterable<ViewEntry> {
    for (const [key, b] of this.views) yield { key, view: storeCodec.decode(b) }
  }

  async clear(): Promise<void> {
    this.views.clear()
    this.checkpoint = undefined
  }

  async close(): Promise<void> {}
}
