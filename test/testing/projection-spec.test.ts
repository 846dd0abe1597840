import { describe, expect, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import { defineDecider, defineProjection, type EventOf } from '../../src/index.ts'
import { givenEvents, SpecFailedError, GIVEN_BASE_TIME } from '../../src/testing/index.ts'

const counter = defineDecider({
  initialState: () => ({ n: 0 }),
  commands: { Add: z.object({ by: z.number() }) },
  events: { Added: z.object({ by: z.number() }), Reset: z.object({}) },
  decide: (command) => ({ type: 'Added', payload: { by: command.payload.by } }),
  evolve: (state, event) => (event.type === 'Added' ? { n: state.n + event.payload.by } : { n: 0 }),
})
type CounterEvent = EventOf<typeof counter>

interface Total {
  sum: number
  count: number
  last: string
}

/** Per aggregate: the sum of Added; Reset deletes the view. */
const totals = defineProjection<CounterEvent, Total>({
  key: (e) => e.aggregateId,
  initialState: () => ({ sum: 0, count: 0, last: '' }),
  project: (view, e) =>
    e.type === 'Reset' ? null : { sum: view!.sum + e.payload.by, count: view!.count + 1, last: e.eventId },
})

const added = (by: number) => ({ type: 'Added' as const, payload: { by } })

describe('givenEvents / then', () => {
  it('thenView, thenNoView, thenViews and views', () => {
    const spec = givenEvents(totals, [added(2), added(3), { ...added(10), aggregateId: 'b' }])
      .thenView('aggregate-1', { sum: 5, count: 2, last: 'aggregate-1@2' })
      .thenView('b', { sum: 10, count: 1, last: 'b@1' })
      .thenNoView('c')
      .thenViews({
        'aggregate-1': { sum: 5, count: 2, last: 'aggregate-1@2' },
        b: { sum: 10, count: 1, last: 'b@1' },
      })
    expect([...spec.views.keys()]).toEqual(['aggregate-1', 'b'])
    givenEvents(totals, [added(1), { type: 'Reset', payload: {} }]).thenNoView('aggregate-1')
    givenEvents(totals, []).thenViews({})
  })

  it('fills the envelope: aggregateId, versions per aggregate, times a second apart, eventIds, command ids', () => {
    const { events } = givenEvents(totals, [
      added(1),
      { ...added(1), aggregateId: 'b' },
      added(1),
      { ...added(1), version: 10 },
      added(1),
      { ...added(1), eventTime: '2025-06-01T12:00:00.000Z', eventId: 'mine' },
    ])
    expect(events.map((e) => [e.aggregateId, e.version, e.eventId])).toEqual([
      ['aggregate-1', 1, 'aggregate-1@1'],
      ['b', 1, 'b@1'],
      ['aggregate-1', 2, 'aggregate-1@2'],
      ['aggregate-1', 10, 'aggregate-1@10'],
      ['aggregate-1', 11, 'aggregate-1@11'],
      ['aggregate-1', 12, 'mine'],
    ])
    expect(events[0]).toEqual({
      type: 'Added',
      payload: { by: 1 },
      aggregateId: 'aggregate-1',
      version: 1,
      eventId: 'aggregate-1@1',
      commandId: 'command-1',
      correlationId: 'command-1',
      causationId: 'command-1',
      eventTime: GIVEN_BASE_TIME,
      recordedAt: GIVEN_BASE_TIME,
      schemaVersion: 1,
    })
    expect(events[2]!.eventTime).toBe('2024-01-01T00:00:02.000Z')
    expect(events[5]!.eventTime).toBe('2025-06-01T12:00:00.000Z')
    expect(events[5]!.recordedAt).toBe('2024-01-01T00:00:05.000Z')
  })

  it('a wrong view fails with the events, the key, expected and actual', () => {
    const wrong = () =>
      givenEvents(totals, [added(2)]).thenView('aggregate-1', { sum: 3, count: 1, last: 'aggregate-1@1' })
    expect(wrong).toThrow(SpecFailedError)
    expect(wrong).toThrow(
      "given events [ { payload: { by: 2 }, type: 'Added' } ]\n" +
        "then view 'aggregate-1'\n" +
        "expected: { count: 1, last: 'aggregate-1@1', sum: 3 }\n" +
        "actual:   { count: 1, last: 'aggregate-1@1', sum: 2 }\n" +
        'differs at: .sum',
    )
  })

  it('a missing view, an unexpected view and a wrong set of views fail too', () => {
    expect(() => givenEvents(totals, [added(2)]).thenView('b', { sum: 2, count: 1, last: 'b@1' })).toThrow(
      /then view 'b'\nexpected: \{ count: 1, last: 'b@1', sum: 2 \}\nactual:   no view \(views: \[ 'aggregate-1' \]\)$/,
    )
    expect(() => givenEvents(totals, [added(2)]).thenNoView('aggregate-1')).toThrow(
      /then view 'aggregate-1'\nexpected: no view\nactual:   \{ count: 1, last: 'aggregate-1@1', sum: 2 \}$/,
    )
    expect(() => givenEvents(totals, [added(2)]).thenViews({})).toThrow(
      /then views\nexpected: \{\}\nactual:   \{ 'aggregate-1': \{ count: 1, last: 'aggregate-1@1', sum: 2 \} \}\ndiffers at: \["aggregate-1"\]$/,
    )
  })

  it('a projector that throws fails the spec naming the event and the view', () => {
    const boom = defineProjection<CounterEvent, Total>({
      key: (e) => e.aggregateId,
      project: (_view, e) => {
        if (e.type === 'Reset') throw new Error('kaboom')
        return { sum: 0, count: 0, last: '' }
      },
    })
    const spec = givenEvents(boom, [added(1), { type: 'Reset', payload: {} }])
    expect(() => spec.views).toThrow(SpecFailedError)
    expect(() => spec.thenNoView('x')).toThrow(
      /^given events .*\nevent \[1\] \{ payload: \{\}, type: 'Reset' \}: project\(\) of view 'aggregate-1' threw: Error: kaboom\n {4}at /s,
    )
  })

  it('a key() that returns no usable key fails the spec as the runtime dead-letters it', () => {
    const badKey = defineProjection<CounterEvent, number>({ key: () => '', project: () => 1 })
    expect(() => givenEvents(badKey, [added(1)]).views).toThrow(
      /event \[0\] \{ payload: \{ by: 1 \}, type: 'Added' \}: key\(\) returned an empty string; return undefined to skip the event$/,
    )
  })

  it('views and events are frozen: a projector that changes its input fails the spec', () => {
    const mutating = defineProjection<CounterEvent, Total>({
      key: (e) => e.aggregateId,
      initialState: () => ({ sum: 0, count: 0, last: '' }),
      project: (view, e) => {
        if (e.type === 'Added') view!.sum += e.payload.by
        return view
      },
    })
    expect(() => givenEvents(mutating, [added(1)]).views).toThrow(
      /project\(\) of view 'aggregate-1' threw: TypeError: Cannot assign to read only property 'sum'.*\(views and events are frozen: return a new view instead of changing the one project receives\)$/s,
    )
    const fixture = added(1)
    givenEvents(totals, [fixture]).thenView('aggregate-1', { sum: 1, count: 1, last: 'aggregate-1@1' })
    expect(Object.isFrozen(fixture.payload)).toBe(false) // the spec's own objects are left alone
  })

  it('a view that is not plain data fails the spec', () => {
    const dated = defineProjection<CounterEvent, { at: Date }>({
      key: (e) => e.aggregateId,
      project: (_v, e) => ({ at: new Date(e.eventTime) }),
    })
    expect(() => givenEvents(dated, [added(1)]).views).toThrow(
      /event \[0\] .*: project\(\) of view 'aggregate-1' returned a view that is not plain data: view\.at is a Date/,
    )
  })

  it('events are typed by the projection: an undeclared event type does not compile', () => {
    expectTypeOf(givenEvents(totals, []).views).toEqualTypeOf<ReadonlyMap<string, Total>>()
    // @ts-expect-error: counter has no event "Removed"
    expect(() => givenEvents(totals, [{ type: 'Removed', payload: {} }]).views).toBeDefined()
  })
})

describe('givenEvents with the source decider (upcasting)', () => {
  it("events given without a schemaVersion are at the decider's current one", () => {
    const spec = givenEvents(totals, [added(1)], { decider: counter })
    expect(spec.events[0]!.schemaVersion).toBe(1)
    spec.thenView('aggregate-1', { sum: 1, count: 1, last: 'aggregate-1@1' })
  })

  it('upcasts an event given with an older schemaVersion before the projector sees it', async () => {
    const { default: bankV2 } = await import('../fixtures/bank-account-v2.ts')
    type V2Event = EventOf<typeof bankV2>
    const currencies = defineProjection<V2Event, Record<string, number>>({
      key: (e) => (e.type === 'MoneyDeposited' ? e.aggregateId : undefined),
      project: (view, e) =>
        e.type === 'MoneyDeposited'
          ? { ...view, [e.payload.currency]: (view?.[e.payload.currency] ?? 0) + e.payload.amount }
          : undefined,
    })
    const v1Deposit = {
      type: 'MoneyDeposited' as const,
      payload: { amount: 5, balance: 5 },
      schemaVersion: 1,
    }
    const spec = givenEvents(
      currencies,
      [
        { type: 'AccountCreated', payload: { owner: 'Ada' } },
        v1Deposit,
        { type: 'MoneyDeposited', payload: { amount: 2, balance: 7, currency: 'USD' } },
      ],
      { decider: bankV2 },
    ).thenViews({ 'aggregate-1': { EUR: 5, USD: 2 } })
    expect(spec.events.map((e) => e.schemaVersion)).toEqual([1, 2, 2])

    // A version the decider does not know fails the spec with the typed error's message.
    expect(
      () => givenEvents(currencies, [{ ...v1Deposit, schemaVersion: 3 }], { decider: bankV2 }).views,
    ).toThrow(/event \[0\] .*schemaVersion 3\): this decider knows MoneyDeposited up to schemaVersion 2/)
  })
})
