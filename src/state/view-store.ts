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
import { Level } from 'level'
import { Packr } from 'msgpackr'
import { storeCodec } from '../domain/codec.ts'
import { formatPosition, parsePosition, type SourcePosition } from '../domain/projection-records.ts'
import { openTaskDb } from './level-store.ts'

const packr = new Packr({ useRecords: false, mapsAsObjects: true })
const VIEW_PREFIX = 'v/'
const VIEW_END = 'v0' // '0' follows '/' bytewise: the first key after every "v/..." key
const CHECKPOINT_KEY = '#checkpoint'

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

/** Keys compare as LevelDB orders them: bytewise UTF-8 (= code point order; not JS's UTF-16 order). */
const compareKeys = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))

/** The least string above every string that starts with `p` (its last code point below U+10FFFF, plus one). */
function successor(p: string): string {
  const cps = [...p]
  for (let c = cps.pop(); c !== undefined; c = cps.pop()) {
    const cp = c.codePointAt(0)!
    if (cp < 0x10ffff) return cps.join('') + String.fromCodePoint(cp === 0xd7ff ? 0xe000 : cp + 1)
  }
  return VIEW_END // unreachable for "v/...": 'v' has a successor
}

const rangeBounds = (r: ViewRange) => {
  const prefix = VIEW_PREFIX + (r.prefix ?? '')
  const after = r.after === undefined ? undefined : VIEW_PREFIX + r.after
  const lower = after !== undefined && compareKeys(after, prefix) >= 0 ? { gt: after } : { gte: prefix }
  // Every key starting with `prefix` (whatever follows: astral characters too) is below its successor.
  return { ...lower, lt: r.prefix ? successor(prefix) : VIEW_END, limit: r.limit }
}

export interface ViewStoreIdentity {
  projection: string
  changelogTopic: string
  partition: number
}

export class LevelViewStore implements ViewStore {
  private constructor(private readonly db: Level<string, Uint8Array>) {}

  static async open(dir: string, identity: ViewStoreIdentity): Promise<LevelViewStore> {
    return new LevelViewStore(await openTaskDb(dir, identity, 'view store'))
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
      .filter(
        (k) =>
          ('gt' in b ? compareKeys(k, b.gt!) > 0 : compareKeys(k, b.gte!) >= 0) && compareKeys(k, b.lt) < 0,
      )
      .sort(compareKeys)
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
