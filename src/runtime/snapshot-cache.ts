import type { SnapshotRecord } from '../domain/envelopes.ts'

export interface SnapshotCacheLimits {
  /** Most entries kept (processing.snapshotCacheSize); 0 keeps none. */
  entries: number
  /** Most bytes kept, counted as the entries' encoded sizes (processing.snapshotCacheBytes); 0 keeps none. */
  bytes: number
}

interface Entry {
  snapshot: SnapshotRecord
  bytes: number
  /** Used since the eviction scan last passed it (second chance). */
  used: boolean
}

/**
 * Committed snapshots kept in memory, bounded by a number of entries AND by bytes, evicting the least recently used
 * as a CLOCK does (second chance): a hit or a new version only marks its entry used, and the eviction scan, from
 * the oldest entry on, moves a used entry to the back with its mark cleared and evicts the first unused one. Exact
 * LRU moved the entry to the back of the Map on every hit and every commit (a delete and an insert in a table of
 * up to 100,000 entries, ~2% of a worker's CPU); this orders only when something has to go. Never holds
 * uncommitted state.
 *
 * An entry's bytes are the size of its snapshot encoded (the changelog value the commit wrote, or the LevelDB value
 * it was read from): the caller passes it, since it already has it. The decoded object on the heap is larger (a
 * few times, depending on the state's shape), and the encoded bytes stay on the heap too while the entry is cached
 * (src/domain/snapshot-bytes.ts reuses them for the aggregate's next snapshot), so the byte bound is a relative one: it keeps a few very large
 * snapshots from taking the room of many small ones, and bounds the heap in proportion. A snapshot larger than the
 * whole byte budget is not kept (and the older version of it, if cached, goes).
 */
export class SnapshotCache {
  private readonly map = new Map<string, Entry>()
  private _bytes = 0

  constructor(private readonly limits: SnapshotCacheLimits) {}

  get(id: string): SnapshotRecord | undefined {
    const e = this.map.get(id)
    if (e === undefined) return undefined
    e.used = true
    return e.snapshot
  }

  /** Keeps `s` (committed), `bytes` being its encoded size; evicts beyond either bound (see the class). */
  set(s: SnapshotRecord, bytes: number): void {
    const { entries, bytes: maxBytes } = this.limits
    const id = s.aggregateId
    const held = this.map.get(id)
    if (entries === 0 || maxBytes === 0 || bytes > maxBytes) {
      if (held !== undefined) this.delete(id, held)
      return
    }
    if (held !== undefined) {
      this._bytes += bytes - held.bytes
      held.snapshot = s
      held.bytes = bytes
      held.used = true
    } else {
      this.map.set(id, { snapshot: s, bytes, used: false })
      this._bytes += bytes
    }
    // Bounded: a turn evicts an entry or clears one mark, so within two passes over the map every excess entry
    // is gone; the entry just set is never evicted (it fits on its own).
    for (let turns = 2 * this.map.size + 2; turns > 0; turns--) {
      if (this.map.size <= entries && this._bytes <= maxBytes) return
      const [oldId, old] = this.map.entries().next().value as [string, Entry]
      if (oldId === id) {
        // The entry just set is the oldest: everything else is gone or was moved behind it.
        this.map.delete(oldId)
        this.map.set(oldId, old)
        old.used = false
        continue
      }
      if (old.used) {
        old.used = false
        this.map.delete(oldId)
        this.map.set(oldId, old)
      } else this.delete(oldId, old)
    }
  }

  private delete(id: string, e: Entry): void {
    this.map.delete(id)
    this._bytes -= e.bytes
  }

  clear(): void {
    this.map.clear()
    this._bytes = 0
  }

  get size(): number {
    return this.map.size
  }

  /** The encoded bytes of the entries held. */
  get bytes(): number {
    return this._bytes
  }
}
