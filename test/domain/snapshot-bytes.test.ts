import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { storeCodec } from '../../src/domain/codec.ts'
import type { RememberedOutcome, SnapshotRecord } from '../../src/domain/envelopes.ts'
import { nextSnapshot, storedSnapshot, windowRegion } from '../../src/domain/snapshot-bytes.ts'

const json = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown)
const outcome: fc.Arbitrary<RememberedOutcome> = fc.record(
  {
    commandId: fc.string({ unit: 'grapheme', maxLength: 40 }),
    status: fc.constantFrom('accepted' as const, 'rejected' as const),
    version: fc.nat(),
    events: fc.array(fc.tuple(fc.string({ maxLength: 20 }), fc.nat()), { maxLength: 3 }),
    error: fc.record({ code: fc.string(), message: fc.string({ maxLength: 300 }) }),
  },
  { requiredKeys: ['commandId', 'status', 'version', 'events'] },
)
const snapshot = (window: number): fc.Arbitrary<SnapshotRecord> =>
  fc.record(
    {
      aggregateId: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }),
      version: fc.nat(),
      state: json,
      recent: fc.array(outcome, { maxLength: window }),
      sourceOffset: fc.bigInt({ min: 0n, max: 2n ** 60n }).map(String),
      stateVersion: fc.integer({ min: 1, max: 5 }),
    },
    { requiredKeys: ['aggregateId', 'version', 'state', 'recent', 'sourceOffset'] },
  )

/** What the processor does: the new outcome first, then the previous window, cut to `window`. */
function successor(
  prev: SnapshotRecord,
  o: RememberedOutcome,
  state: unknown,
  window: number,
): SnapshotRecord {
  const recent = [o, ...prev.recent]
  if (recent.length > window) recent.length = window
  return {
    ...prev,
    version: prev.version + 1,
    state,
    recent,
    sourceOffset: String(BigInt(prev.sourceOffset) + 1n),
  }
}

describe('nextSnapshot: the next snapshot’s bytes', () => {
  it('reuse the previous window’s bytes (the kept outcomes are copied, not packed again)', () => {
    const o = (i: number): RememberedOutcome => ({
      commandId: `c-${i}`,
      status: 'accepted',
      version: i,
      events: [['Deposited', i]],
    })
    const prevRecord: SnapshotRecord = {
      aggregateId: 'a',
      version: 3,
      state: { balance: 3 },
      recent: [o(3), o(2), o(1)],
      sourceOffset: '9',
      stateVersion: 1,
    }
    const prevBytes = storeCodec.encode(prevRecord)
    const prev = storedSnapshot(prevBytes)
    const want = successor(prevRecord, o(4), { balance: 4 }, 3)
    const { recent: _, ...base } = want
    const { bytes } = nextSnapshot(base, o(4), prev, 3, 'msgpack')
    const region = windowRegion(prevBytes, 2)!
    // The last bytes are the previous snapshot's first two outcomes, as they were.
    expect(
      bytes
        .subarray(bytes.length - (region.end - region.start))
        .equals(prevBytes.subarray(region.start, region.end)),
    ).toBe(true)
    expect(storeCodec.decode(bytes)).toStrictEqual(want)
  })

  it('are packed whole when the previous bytes are unknown, and as JSON when JSON is asked for', () => {
    const unknown: SnapshotRecord = {
      aggregateId: 'a',
      version: 1,
      state: 1,
      recent: [{ commandId: 'x', status: 'accepted', version: 1, events: [] }],
      sourceOffset: '1',
    }
    const o: RememberedOutcome = { commandId: 'y', status: 'accepted', version: 2, events: [] }
    const base = { aggregateId: 'a', version: 2, state: 2, sourceOffset: '2' }
    const want = { ...base, recent: [o, ...unknown.recent] }
    const m = nextSnapshot({ ...base }, o, unknown, 32, 'msgpack')
    expect(m.bytes.equals(storeCodec.encode(want))).toBe(true)
    expect(JSON.parse(nextSnapshot({ ...base }, o, unknown, 32, 'json').bytes.toString())).toStrictEqual(want)
  })

  it('windowRegion refuses malformed bytes without throwing', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(40), (a, n) => {
        const r = windowRegion(a, n)
        if (r !== undefined) expect(r.end).toBeLessThanOrEqual(a.length)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('nextSnapshot: the window stays in the bytes', () => {
  const plain = (s: SnapshotRecord) => ({ ...s, recent: [...s.recent] })

  it('over chains of commands, from the store or not, the record and its bytes are the eager successor', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        snapshot(40),
        fc.array(fc.tuple(outcome, json), { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        (window, first, steps, fromStore) => {
          const start: SnapshotRecord = { ...first, recent: first.recent.slice(0, window) }
          let prev = fromStore ? storedSnapshot(storeCodec.encode(start)) : start
          let expected = start
          for (const [o, state] of steps) {
            const want = successor(expected, o, state, window)
            const { recent: _, ...base } = want
            const { snapshot, bytes } = nextSnapshot(base, o, prev, window, 'msgpack')
            expect(storeCodec.decode(bytes)).toStrictEqual(storeCodec.decode(storeCodec.encode(want)))
            // `recent` decoded from the bytes when read
            expect(plain(snapshot)).toStrictEqual(storeCodec.decode(storeCodec.encode(want)))
            prev = snapshot
            expected = want
          }
        },
      ),
      { numRuns: 200 },
    )
  })

  it('JSON keeps the window as objects; assigning `recent` makes it a plain property again', () => {
    const base = { aggregateId: 'a', version: 1, state: 1, sourceOffset: '1' }
    const o: RememberedOutcome = { commandId: 'x', status: 'accepted', version: 1, events: [] }
    const j = nextSnapshot(base, o, undefined, 32, 'json')
    expect(JSON.parse(j.bytes.toString())).toStrictEqual({ ...base, recent: [o] })
    const m = nextSnapshot({ ...base }, o, undefined, 32, 'msgpack').snapshot
    expect(Object.getOwnPropertyDescriptor(m, 'recent')?.get).toBeTypeOf('function')
    m.recent = []
    expect(Object.getOwnPropertyDescriptor(m, 'recent')?.value).toEqual([])
    expect(m.recent).toEqual([])
  })

  it('a stored snapshot without a window (older or foreign bytes) stays as decoded', () => {
    const bytes = storeCodec.encode({ aggregateId: 'a', version: 1, state: 1 })
    const s = storedSnapshot(bytes)
    expect(Object.getOwnPropertyDescriptor(s, 'recent')).toBeUndefined()
  })
})
