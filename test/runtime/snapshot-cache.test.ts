/** SnapshotCache: LRU bounded by entries and by encoded bytes. */
import { describe, expect, it } from 'vitest'
import type { SnapshotRecord } from '../../src/domain/envelopes.ts'
import { SnapshotCache } from '../../src/runtime/snapshot-cache.ts'

const snap = (id: string, version = 1) => ({ aggregateId: id, version }) as unknown as SnapshotRecord
const ids = (c: SnapshotCache, all: string[]) => all.filter((id) => c.get(id) !== undefined)

describe('SnapshotCache', () => {
  it('evicts the least recently used beyond the entry bound', () => {
    const c = new SnapshotCache({ entries: 2, bytes: 1_000_000 })
    c.set(snap('a'), 10)
    c.set(snap('b'), 10)
    c.get('a') // a is now the most recently used
    c.set(snap('c'), 10)
    expect(c.size).toBe(2)
    expect(c.bytes).toBe(20)
    expect(ids(c, ['a', 'b', 'c'])).toEqual(['a', 'c'])
  })

  it('evicts the least recently used until the bytes fit, however many entries that takes', () => {
    const c = new SnapshotCache({ entries: 100, bytes: 100 })
    for (const id of ['a', 'b', 'c', 'd']) c.set(snap(id), 25)
    expect(c.bytes).toBe(100)
    c.get('a')
    c.set(snap('big'), 60) // 160 bytes: b, c and d go (a was used), 25 + 60 = 85 stay
    expect(ids(c, ['a', 'b', 'c', 'd', 'big'])).toEqual(['a', 'big'])
    expect(c.size).toBe(2)
    expect(c.bytes).toBe(85)
  })

  it('a new version of an entry replaces it and its bytes', () => {
    const c = new SnapshotCache({ entries: 10, bytes: 100 })
    c.set(snap('a', 1), 30)
    c.set(snap('a', 2), 50)
    expect(c.size).toBe(1)
    expect(c.bytes).toBe(50)
    expect(c.get('a')!.version).toBe(2)
  })

  it('does not keep an entry larger than the whole byte budget, and drops the older version it replaces', () => {
    const c = new SnapshotCache({ entries: 10, bytes: 100 })
    c.set(snap('a', 1), 40)
    c.set(snap('b', 1), 40)
    c.set(snap('a', 2), 101)
    expect(c.get('a')).toBeUndefined() // never the stale version 1
    expect(ids(c, ['a', 'b'])).toEqual(['b'])
    expect(c.bytes).toBe(40)
    c.set(snap('c', 1), 100) // exactly the budget: kept, alone
    expect(ids(c, ['a', 'b', 'c'])).toEqual(['c'])
    expect(c.bytes).toBe(100)
  })

  it('keeps nothing when either bound is 0; clear() empties it', () => {
    for (const limits of [
      { entries: 0, bytes: 100 },
      { entries: 10, bytes: 0 },
    ]) {
      const c = new SnapshotCache(limits)
      c.set(snap('a'), 1)
      expect(c.size).toBe(0)
      expect(c.bytes).toBe(0)
    }
    const c = new SnapshotCache({ entries: 10, bytes: 100 })
    c.set(snap('a'), 10)
    c.clear()
    expect([c.size, c.bytes, c.get('a')]).toEqual([0, 0, undefined])
  })
})
