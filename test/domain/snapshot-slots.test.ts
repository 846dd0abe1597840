import { describe, expect, it } from 'vitest'
import {
  decodedWindowOf,
  keepDecodedWindow,
  setSnapshotBytes,
  snapshotBytesOf,
} from '../../src/domain/snapshot-slots.ts'
import type { RememberedOutcome } from '../../src/domain/envelopes.ts'

const outcome: RememberedOutcome = {
  commandId: 'c1',
  status: 'accepted',
  version: 1,
  events: [['Opened', 1]],
}

describe('snapshot slots', () => {
  it('keep bytes and a decoded window with an object, out of sight of keys, JSON, spreads and equality', () => {
    const s = { aggregateId: 'a', version: 1 }
    const bytes = new Uint8Array([1, 2, 3])
    setSnapshotBytes(s, bytes)
    keepDecodedWindow(s, [outcome])
    expect(snapshotBytesOf(s)).toBe(bytes)
    expect(decodedWindowOf(s)).toEqual([outcome])
    expect(Object.keys(s)).toEqual(['aggregateId', 'version'])
    expect(Object.getOwnPropertySymbols(s)).toEqual([])
    expect(JSON.stringify(s)).toBe('{"aggregateId":"a","version":1}')
    expect(s).toStrictEqual({ aggregateId: 'a', version: 1 })
    const copy = { ...s }
    expect(snapshotBytesOf(copy)).toBeUndefined()
    expect(decodedWindowOf(copy)).toBeUndefined()
  })

  it('new bytes replace the old ones and forget the decoded window; undefined clears them', () => {
    const s = {}
    setSnapshotBytes(s, new Uint8Array([1]))
    keepDecodedWindow(s, [outcome])
    const next = new Uint8Array([2])
    setSnapshotBytes(s, next)
    expect(snapshotBytesOf(s)).toBe(next)
    expect(decodedWindowOf(s)).toBeUndefined()
    setSnapshotBytes(s, undefined)
    expect(snapshotBytesOf(s)).toBeUndefined()
  })

  it('an object that cannot take fields (frozen) keeps them too', () => {
    const s = Object.freeze({ aggregateId: 'f' })
    const bytes = new Uint8Array([9])
    setSnapshotBytes(s, bytes)
    keepDecodedWindow(s, [outcome])
    expect(snapshotBytesOf(s)).toBe(bytes)
    expect(decodedWindowOf(s)).toEqual([outcome])
    expect(Object.isFrozen(s)).toBe(true)
  })

  it('an object never given bytes has none, and a window is not kept without them', () => {
    const s = {}
    keepDecodedWindow(s, [outcome])
    expect(snapshotBytesOf(s)).toBeUndefined()
    expect(decodedWindowOf(s)).toBeUndefined()
  })
})
