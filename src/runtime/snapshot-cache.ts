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
}

/**
 * Committed snapshots kept in memory, least recently used evicted first, bounded by a number of entries AND by
 * bytes. Never holds uncommitted state.
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
    if (e !== undefined) {
      this.map.delete(id)
      this.map.set(id, e)
    }
    return e?.snapshot
  }

  /** Keeps `s` (committed), `bytes` being its encoded size; evicts the least recently used beyond either bound. */
  set(s: SnapshotRecord, bytes: number): void {
    this.delete(s.aggregateId)
    const { entries, bytes: maxBytes } = this.limits
    if (entries === 0 || maxBytes === 0 || bytes > maxBytes) return
    this.map.set(s.aggregateId, { snapshot: s, bytes })
    this._bytes += bytes
    // Bounded: every turn removes one entry, and the one just set fits on its own.
    while (this.map.size > entries || this._bytes > maxBytes) {
      const oldest = this.map.keys().next().value
      if (oldest === undefined || oldest === s.aggregateId) break
      this.delete(oldest)
    }
  }

  private delete(id: string): void {
    const e = this.map.get(id)
    if (e === undefined) return
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
