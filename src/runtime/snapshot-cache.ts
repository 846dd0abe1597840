import type { SnapshotRecord } from '../domain/envelopes.ts'

/** Committed snapshots kept in memory, least recently used evicted first. Never holds uncommitted state. */
export class SnapshotCache {
  private readonly map = new Map<string, SnapshotRecord>()
  constructor(private readonly capacity: number) {}

  get(id: string): SnapshotRecord | undefined {
    const s = this.map.get(id)
    if (s !== undefined) {
      this.map.delete(id)
      this.map.set(id, s)
    }
    return s
  }

  set(s: SnapshotRecord): void {
    if (this.capacity === 0) return
    this.map.delete(s.aggregateId)
    this.map.set(s.aggregateId, s)
    if (this.map.size > this.capacity) {
      const oldest = this.map.keys().next().value
      if (oldest !== undefined) this.map.delete(oldest)
    }
  }

  clear(): void {
    this.map.clear()
  }

  get size(): number {
    return this.map.size
  }
}
