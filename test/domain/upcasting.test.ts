/** Event versioning in the domain: upcasting steps, their errors, the decider's declarations, the stateVersion rule. */
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  deciderShapeProblems,
  defineDecider,
  eventVersionOf,
  type AnyDecider,
} from '../../src/domain/decider.ts'
import type { EventEnvelope, SnapshotRecord } from '../../src/domain/envelopes.ts'
import { isSnapshotCurrent, rebuildSnapshot, upcastEvent } from '../../src/domain/upcasting.ts'
import {
  ConfigError,
  EventVersionUnknownError,
  StaleSnapshotError,
  UpcastFailedError,
} from '../../src/errors.ts'

const anyDecider = (d: unknown) => d as AnyDecider

/** A counter whose Added event went v1 { n } -> v2 { n, by } -> v3 { amount, by }. */
const counter = defineDecider({
  initialState: () => ({ total: 0, by: [] as string[] }),
  commands: { Add: z.object({ amount: z.number() }) },
  events: { Added: z.object({ amount: z.number(), by: z.string() }), Reset: z.object({}) },
  decide: (c) => ({ type: 'Added', payload: { amount: c.payload.amount, by: 'me' } }),
  evolve: (s, e) =>
    e.type === 'Added' ? { total: s.total + e.payload.amount, by: [...s.by, e.payload.by] } : s,
  upcasters: {
    Added: [
      (p: { n: number }) => ({ ...p, by: 'unknown' }), // v1 -> v2
      (p: { n: number; by: string }) => ({ amount: p.n, by: p.by }), // v2 -> v3
    ],
  },
  stateVersion: 2,
})

function stored(version: number, type: string, payload: unknown, schemaVersion?: number): EventEnvelope {
  const e: EventEnvelope = {
    eventId: `c-1@${version}`,
    type,
    aggregateId: 'c-1',
    version,
    payload,
    commandId: `cmd-${version}`,
    correlationId: 'x',
    causationId: 'x',
    eventTime: '2024-01-01T00:00:00.000Z',
    recordedAt: '2024-01-01T00:00:00.000Z',
    schemaVersion: schemaVersion ?? 1,
  }
  if (schemaVersion === undefined) delete (e as Partial<EventEnvelope>).schemaVersion
  return e
}

describe('upcastEvent', () => {
  it('a type current version is its number of steps + 1; current events come back as they are (same object)', () => {
    expect(eventVersionOf(counter, 'Added')).toBe(3)
    expect(eventVersionOf(counter, 'Reset')).toBe(1)
    const current = stored(1, 'Added', { amount: 2, by: 'a' }, 3)
    expect(upcastEvent(counter, current)).toBe(current)
    const reset = stored(2, 'Reset', {}, 1)
    expect(upcastEvent(counter, reset)).toBe(reset)
  })

  it('runs every step from the stored version (absent: 1) to the current one, in order', () => {
    const v1 = stored(1, 'Added', { n: 5 }) // written before schemaVersion existed
    const up = upcastEvent(counter, v1)
    expect(up).toEqual({ ...v1, payload: { amount: 5, by: 'unknown' }, schemaVersion: 3 })
    expect(v1.payload).toEqual({ n: 5 }) // the stored event is not touched
    expect(upcastEvent(counter, stored(2, 'Added', { n: 4, by: 'bob' }, 2)).payload).toEqual({
      amount: 4,
      by: 'bob',
    })
  })

  it('a stored event newer than the code: EventVersionUnknownError naming the event and what to deploy', () => {
    const e = stored(7, 'Added', { amount: 1, by: 'x', extra: 1 }, 4)
    expect(() => upcastEvent(counter, e)).toThrow(EventVersionUnknownError)
    expect(() => upcastEvent(counter, e)).toThrow(
      'stored event Added of aggregate c-1 at version 7 (eventId c-1@7, schemaVersion 4): this decider knows Added up to schemaVersion 3 (2 upcaster(s)); a newer decider wrote it. Deploy that decider (or one with upcasters up to version 4) instead of this older one',
    )
  })

  it('an undeclared type passes through at version 1 (evolve decides), and says so above it', () => {
    const gone = stored(2, 'Removed', { x: 1 }, 1)
    expect(upcastEvent(counter, gone)).toBe(gone)
    expect(() => upcastEvent(counter, stored(2, 'Removed', { x: 1 }, 2))).toThrow(
      /this decider does not declare the event type Removed.*declare Removed with upcasters up to version 2/,
    )
  })

  it('a step that throws, a result that fails the current schema, a version that is not one: UpcastFailedError', () => {
    const throwing = anyDecider({
      ...counter,
      upcasters: {
        Added: [
          () => {
            throw new Error('boom')
          },
          (p: unknown) => p,
        ],
      },
    })
    expect(() => upcastEvent(throwing, stored(3, 'Added', { n: 1 }, 1))).toThrow(
      /stored event Added of aggregate c-1 at version 3 .*schemaVersion 1\): upcasters.Added\[0\] \(v1 -> v2\) threw: boom\. Fix the upcaster/,
    )
    const wrong = anyDecider({
      ...counter,
      upcasters: { Added: [(p: { n: number }) => ({ amount: String(p.n) })] },
    })
    let thrown: unknown
    try {
      upcastEvent(wrong, stored(1, 'Added', { n: 1 }, 1))
    } catch (e) {
      thrown = e
    }
    expect(thrown).toBeInstanceOf(UpcastFailedError)
    expect((thrown as Error).message).toMatch(/fails Added's current schema \(v2\): amount: .*by: /)
    expect(() => upcastEvent(counter, stored(1, 'Added', { n: 1 }, 0))).toThrow(
      /schemaVersion 0 is not a version/,
    )
  })
})

describe('defineDecider: upcasters and stateVersion', () => {
  const base = { ...counter, upcasters: undefined, stateVersion: undefined }
  it('refuses steps for undeclared types, steps that are not functions, a bad stateVersion, the old schemaVersion', () => {
    expect(() => defineDecider({ ...base, upcasters: { Nope: [(p: unknown) => p] } } as never)).toThrow(
      /upcasters.Nope: no event type "Nope" is declared/,
    )
    expect(() => defineDecider({ ...base, upcasters: { Added: [1] } } as never)).toThrow(ConfigError)
    expect(() => defineDecider({ ...base, stateVersion: 0 })).toThrow(
      /"stateVersion" must be an integer >= 1/,
    )
    expect(() => defineDecider({ ...base, schemaVersion: 2 } as never)).toThrow(
      /"schemaVersion" is no longer a decider option.*upcasters/,
    )
    expect(deciderShapeProblems({ ...base, upcasters: { Added: 'x' } })).toEqual([
      expect.stringContaining('upcasters.Added must be an array of functions'),
    ])
    expect(defineDecider(base).stateVersion).toBe(1)
  })
})

describe('the stateVersion rule', () => {
  const events = [
    stored(1, 'Added', { n: 2 }),
    stored(2, 'Reset', {}),
    stored(3, 'Added', { amount: 3, by: 'z' }, 3),
  ]
  const stale: SnapshotRecord = {
    aggregateId: 'c-1',
    version: 3,
    state: { total: 5 },
    recent: [{ commandId: 'cmd-3', status: 'accepted', version: 3, events: [['Added', 3]] }],
    sourceOffset: '41',
  }

  it('a snapshot is trusted only under the running stateVersion (absent = 1)', () => {
    expect(isSnapshotCurrent(counter, stale)).toBe(false)
    expect(isSnapshotCurrent(counter, { ...stale, stateVersion: 2 })).toBe(true)
    expect(isSnapshotCurrent({ ...counter, stateVersion: 1 } as AnyDecider, stale)).toBe(true)
  })

  it('rebuilds from the upcast events, keeping version, dedupe window and source offset', () => {
    expect(rebuildSnapshot(counter, stale, events)).toEqual({
      ...stale,
      state: { total: 5, by: ['unknown', 'z'] },
      stateVersion: 2,
    })
  })

  it('refuses events that do not end at the snapshot version, or have gaps', () => {
    expect(() => rebuildSnapshot(counter, stale, events.slice(0, 2))).toThrow(StaleSnapshotError)
    expect(() => rebuildSnapshot(counter, stale, [events[0]!, events[2]!])).toThrow(
      /its events read versions 1..3 \(2\), not 1..3.*decider rebuild/,
    )
    expect(() => rebuildSnapshot(counter, stale, [])).toThrow(/its events read none/)
    const throwing = anyDecider({
      ...counter,
      evolve: () => {
        throw new Error('no')
      },
    })
    expect(() => rebuildSnapshot(throwing, stale, events)).toThrow(
      /aggregate c-1: rebuilding its snapshot for stateVersion 2, evolve threw on stored event Added of aggregate c-1 at version 1 .*: no\. Fix evolve/,
    )
  })
})
