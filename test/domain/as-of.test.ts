/** Bi-temporal reads over a known timeline: business time, recording time, both, and a late correction. */
import { describe, expect, it } from 'vitest'
import { stateAsOf } from '../../src/domain/as-of.ts'
import type { EventEnvelope } from '../../src/domain/envelopes.ts'
import bank from '../../topologies/bank-account.ts'

let n = 0
function ev(
  type: string,
  payload: unknown,
  eventTime: string,
  recordedAt: string,
  extra: object = {},
): EventEnvelope {
  n += 1
  return {
    eventId: `e${n}`,
    type,
    aggregateId: 'acc-1',
    version: n,
    payload,
    commandId: `c${n}`,
    correlationId: `c${n}`,
    causationId: `c${n}`,
    eventTime,
    recordedAt,
    schemaVersion: 1,
    ...extra,
  }
}

// Jan 10 opened; Feb 1 deposit 100 (recorded Feb 1); Feb 20 deposit 50, recorded late on Mar 5;
// Apr 2: the Feb 1 deposit was really 10: a correction (withdraw 90) that names it.
n = 0
const timeline = [
  ev('AccountCreated', { owner: 'Ada' }, '2026-01-10T09:00:00Z', '2026-01-10T09:00:01Z'),
  ev('MoneyDeposited', { amount: 100, balance: 100 }, '2026-02-01T10:00:00Z', '2026-02-01T10:00:01Z'),
  ev('MoneyDeposited', { amount: 50, balance: 150 }, '2026-02-20T12:00:00Z', '2026-03-05T08:00:00Z'),
  ev('MoneyWithdrawn', { amount: 90, balance: 60 }, '2026-04-02T15:00:00Z', '2026-04-02T15:00:01Z', {
    corrects: 'e2',
  }),
]
const balance = (asOf: Parameters<typeof stateAsOf>[2]) =>
  (stateAsOf<{ balance: number }>(bank, timeline, asOf).state as { balance: number }).balance

describe('stateAsOf', () => {
  it('no bound: every event (the current state)', () => {
    const r = stateAsOf(bank, timeline, {})
    expect(r).toMatchObject({ version: 4, included: 4, total: 4, asOf: {} })
    expect(r.state).toEqual({ status: 'open', owner: 'Ada', balance: 60 })
  })

  it('"what was the balance on March 1st", as known now: the late deposit and the correction count', () => {
    // Feb 1 deposit (100) corrected to 10 (the correction takes effect on Feb 1), Feb 20 deposit (50).
    expect(balance({ eventTimeAsOf: '2026-03-01T00:00:00Z' })).toBe(60)
    expect(balance({ eventTimeAsOf: '2026-02-10T00:00:00Z' })).toBe(10)
    expect(balance({ eventTimeAsOf: '2026-01-31T00:00:00Z' })).toBe(0)
  })

  it('"what did we believe on March 1st": neither the late deposit nor the correction was recorded yet', () => {
    expect(balance({ recordedAsOf: '2026-03-01T00:00:00Z' })).toBe(100)
    expect(balance({ recordedAsOf: '2026-03-06T00:00:00Z' })).toBe(150)
    expect(balance({ recordedAsOf: '2026-04-03T00:00:00Z' })).toBe(60)
  })

  it('both bounds: the balance on Feb 10 as we believed it on March 10 (before the correction)', () => {
    const r = stateAsOf(bank, timeline, {
      eventTimeAsOf: '2026-02-10T00:00:00Z',
      recordedAsOf: '2026-03-10T00:00:00Z',
    })
    expect((r.state as { balance: number }).balance).toBe(100)
    expect(r).toMatchObject({
      version: 2,
      included: 2,
      asOf: { eventTimeAsOf: '2026-02-10T00:00:00.000Z', recordedAsOf: '2026-03-10T00:00:00.000Z' },
    })
  })

  it('epoch milliseconds and Dates are bounds too; anything else is a RangeError that says what to give', () => {
    expect(balance({ recordedAsOf: Date.parse('2026-03-01T00:00:00Z') })).toBe(100)
    expect(balance({ recordedAsOf: new Date('2026-03-01T00:00:00Z') })).toBe(100)
    // as text too (a query string's, a CLI flag's): Date.parse alone reads "1772323200000" as no time
    expect(balance({ recordedAsOf: String(Date.parse('2026-03-01T00:00:00Z')) })).toBe(100)
    expect(balance({ recordedAsOf: String(Date.parse('2026-04-03T00:00:00Z')) })).toBe(60)
    expect(() => stateAsOf(bank, timeline, { recordedAsOf: '99999999999999999' })).toThrow(RangeError)
    expect(stateAsOf(bank, timeline, { eventTimeAsOf: '2026' }).asOf).toEqual({
      eventTimeAsOf: '2026-01-01T00:00:00.000Z', // a year is a year
    })
    expect(() => stateAsOf(bank, timeline, { eventTimeAsOf: 'last tuesday' })).toThrow(
      /eventTimeAsOf must be an ISO-8601 time .* or epoch milliseconds/,
    )
  })
})
