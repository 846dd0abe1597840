import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { storeCodec } from '../../src/domain/codec.ts'
import { plainDataProblem } from '../../src/domain/plain-data.ts'
import type { RememberedOutcome, SnapshotRecord } from '../../src/domain/envelopes.ts'
import { withOutcomes } from '../../src/domain/outcome-codec.ts'
import { nextSnapshot, storedSnapshot, windowRegion } from '../../src/domain/snapshot-bytes.ts'

/** Decoded as every reader in the project decodes a snapshot (compact outcomes as objects). */
/** The outcome of an accepted deposit, command `c-<i>`. */
const deposit = (i: number): RememberedOutcome => ({
  commandId: `c-${i}`,
  status: 'accepted',
  version: i,
  events: [['Deposited', i]],
})

const decoded = (b: Uint8Array) => withOutcomes(storeCodec.decode(b) as SnapshotRecord)

// States are plain data (plain-data.ts): e.g. no "__proto__" key, which msgpack renames and the processor refuses.
const json = fc
  .jsonValue({ maxDepth: 3 })
  .map((v) => JSON.parse(JSON.stringify(v)) as unknown)
  .filter((v) => plainDataProblem(v, 'state') === undefined)
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
    const prevRecord: SnapshotRecord = {
      aggregateId: 'a',
      version: 3,
      state: { balance: 3 },
      recent: [deposit(3), deposit(2), deposit(1)],
      sourceOffset: '9',
      stateVersion: 1,
    }
    const prevBytes = storeCodec.encode(prevRecord)
    const prev = storedSnapshot(prevBytes)
    const want = successor(prevRecord, deposit(4), { balance: 4 }, 3)
    const { recent: _, ...base } = want
    const { bytes } = nextSnapshot(base, deposit(4), prev, 3, 'msgpack')
    const region = windowRegion(prevBytes, 2)!
    // The last bytes are the previous snapshot's first two outcomes, as they were.
    expect(
      bytes
        .subarray(bytes.length - (region.end - region.start))
        .equals(prevBytes.subarray(region.start, region.end)),
    ).toBe(true)
    expect(decoded(bytes)).toStrictEqual(want)
    // The new outcome compact, the kept ones as the older bytes had them (maps): one window, both encodings.
    const raw = (storeCodec.decode(bytes) as { recent: unknown[] }).recent
    expect(raw[0]).toStrictEqual(['c-4', 0, 4, [['Deposited', 4]]])
    expect(raw[1]).toStrictEqual(deposit(3))
  })

  it('snapshots with their window in bytes share one accessor for recent (no closures per record), whatever made them', () => {
    const base = (v: number) => ({
      aggregateId: 'a',
      version: v,
      state: v,
      sourceOffset: String(v),
      stateVersion: 1,
    })
    const first = nextSnapshot(base(1), deposit(1), undefined, 32, 'msgpack')
    const second = nextSnapshot(base(2), deposit(2), first.snapshot, 32, 'msgpack')
    const stored = storedSnapshot(second.bytes)
    const third = nextSnapshot(base(3), deposit(3), stored, 32, 'msgpack')
    const getters = [first, second, { snapshot: stored }, third].map(
      ({ snapshot }) => Object.getOwnPropertyDescriptor(snapshot, 'recent')!.get,
    )
    expect(getters[0]).toBeTypeOf('function')
    expect(new Set(getters).size).toBe(1)
    expect(third.snapshot.recent.map((r) => r.commandId)).toEqual(['c-3', 'c-2', 'c-1'])
    expect(Object.keys(third.snapshot).sort()).toEqual([
      'aggregateId',
      'recent',
      'sourceOffset',
      'state',
      'stateVersion',
      'version',
    ])
  })

  it('compact outcomes take half to two thirds the bytes of maps; "objects" writes maps, as older workers did', () => {
    const o = (i: number): RememberedOutcome => ({
      commandId: `cmd-${'x'.repeat(30)}-${i}`,
      status: i % 5 === 0 ? 'rejected' : 'accepted',
      version: 1000 + i,
      events: i % 5 === 0 ? [] : [['Deposited', 1000 + i]],
      ...(i % 5 === 0 ? { error: { code: 'insufficient_funds', message: 'balance 3, asked 5' } } : {}),
    })
    const grow = (outcomes: 'compact' | 'objects') => {
      let prev: SnapshotRecord | undefined
      let want: SnapshotRecord = {
        aggregateId: 'a',
        version: 0,
        state: 0,
        recent: [],
        sourceOffset: '0',
        stateVersion: 1,
      }
      let bytes!: Buffer
      for (let i = 1; i <= 40; i++) {
        want = successor(want, o(i), i, 32)
        const { recent: _, ...base } = want
        ;({ snapshot: prev, bytes } = nextSnapshot(base, o(i), prev, 32, 'msgpack', outcomes))
        expect(decoded(bytes)).toStrictEqual(want)
        expect(prev.recent).toStrictEqual(want.recent)
      }
      return bytes
    }
    const compact = grow('compact')
    const objects = grow('objects')
    expect(
      objects.equals(storeCodec.encode(withOutcomes(storeCodec.decode(objects) as SnapshotRecord))),
    ).toBe(true)
    expect((storeCodec.decode(objects) as SnapshotRecord).recent[0]).toStrictEqual(o(40))
    // ~0.62 for these (a fifth of them rejections with a message); ~0.5 for one-event acceptances alone.
    expect(compact.length / objects.length).toBeLessThan(0.65)
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
    const m = nextSnapshot({ ...base }, o, unknown, 32, 'msgpack', 'objects')
    expect(m.bytes.equals(storeCodec.encode(want))).toBe(true)
    const c = nextSnapshot({ ...base }, o, unknown, 32, 'msgpack')
    expect(decoded(c.bytes)).toStrictEqual(want)
    expect((storeCodec.decode(c.bytes) as { recent: unknown[] }).recent).toStrictEqual([
      ['y', 0, 2, []],
      ['x', 0, 1, []],
    ])
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

  it('over chains of commands, from the store, from memory or from no snapshot, the record and its bytes are the eager successor', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        snapshot(40),
        fc.array(fc.tuple(outcome, json, fc.constantFrom('compact' as const, 'objects' as const)), {
          minLength: 1,
          maxLength: 30,
        }),
        fc.constantFrom('store', 'memory', 'none'),
        (window, first, steps, from) => {
          const start: SnapshotRecord = {
            ...first,
            recent: from === 'none' ? [] : first.recent.slice(0, window),
          }
          let prev: SnapshotRecord | undefined =
            from === 'store'
              ? storedSnapshot(storeCodec.encode(start))
              : from === 'memory'
                ? start
                : undefined
          let expected = start
          for (const [o, state, outcomes] of steps) {
            const want = successor(expected, o, state, window)
            const { recent: _, ...base } = want
            const { snapshot, bytes } = nextSnapshot(base, o, prev, window, 'msgpack', outcomes)
            expect(decoded(bytes)).toStrictEqual(storeCodec.decode(storeCodec.encode(want)))
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
