/** SnapshotCache: least recently used out (second chance), bounded by entries and by encoded bytes. */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
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

  it('under any sequence of gets and sets: within both bounds, the latest version only, the entry just set kept', () => {
    const op = fc.oneof(
      fc.record({ get: fc.integer({ min: 0, max: 12 }) }),
      fc.record({ set: fc.integer({ min: 0, max: 12 }), bytes: fc.integer({ min: 1, max: 60 }) }),
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 150 }),
        fc.array(op, { maxLength: 80 }),
        (entries, bytes, ops) => {
          const c = new SnapshotCache({ entries, bytes })
          const latest = new Map<string, { version: number; bytes: number }>()
          let version = 0
          for (const o of ops) {
            if ('get' in o) {
              const id = `a${o.get}`
              const got = c.get(id)
              if (got !== undefined) expect(got.version).toBe(latest.get(id)!.version)
              continue
            }
            const id = `a${o.set}`
            version++
            latest.set(id, { version, bytes: o.bytes })
            c.set(snap(id, version), o.bytes)
            expect(c.size).toBeLessThanOrEqual(entries)
            expect(c.bytes).toBeLessThanOrEqual(bytes)
            if (o.bytes <= bytes) expect(c.get(id)?.version).toBe(version)
            else expect(c.get(id)).toBeUndefined()
            const held = [...latest].filter(([k]) => c.get(k) !== undefined)
            expect(held).toHaveLength(c.size)
            expect(held.reduce((n, [, v]) => n + v.bytes, 0)).toBe(c.bytes)
          }
        },
      ),
      { numRuns: 500 },
    )
  })
})
