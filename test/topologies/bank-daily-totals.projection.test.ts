/** Given/then specs of the bank-daily-totals sample projection (kafka-decider/testing). */
import { describe, expect, it } from 'vitest'
import { correction } from '../../src/index.ts'
import { given, givenEvents, SpecFailedError } from '../../src/testing/index.ts'
import bank from '../../topologies/bank-account.ts'
import dailyTotals, { utcDay, type DailyTotals } from '../../topologies/bank-daily-totals.ts'

const day1 = '2024-03-01'
const at = (day: string, time = '10:00:00') => `${day}T${time}.000Z`
const created = (aggregateId: string, eventTime: string) => ({
  type: 'AccountCreated' as const,
  payload: { owner: aggregateId.toUpperCase() },
  aggregateId,
  eventTime,
})
const deposited = (aggregateId: string, amount: number, balance: number, eventTime: string) => ({
  type: 'MoneyDeposited' as const,
  payload: { amount, balance },
  aggregateId,
  eventTime,
})
const withdrawn = (aggregateId: string, amount: number, balance: number, eventTime: string) => ({
  type: 'MoneyWithdrawn' as const,
  payload: { amount, balance },
  aggregateId,
  eventTime,
})
const totals = (day: string, t: Partial<DailyTotals>): DailyTotals => ({
  day,
  accountsOpened: 0,
  deposits: { count: 0, amount: 0 },
  withdrawals: { count: 0, amount: 0 },
  corrections: { count: 0, amount: 0 },
  net: 0,
  ...t,
})

describe('bank-daily-totals projection', () => {
  it('sums the events of every account by the UTC day of their eventTime', () => {
    givenEvents(dailyTotals, [
      created('acc-1', at(day1, '09:00:00')),
      deposited('acc-1', 100_00, 100_00, at(day1, '09:30:00')),
      created('acc-2', at(day1, '11:00:00')),
      deposited('acc-2', 50_00, 50_00, at(day1, '23:59:59')),
      withdrawn('acc-1', 30_00, 70_00, at(day1, '23:59:59')),
      deposited('acc-1', 5_00, 75_00, at('2024-03-02', '00:00:00')),
    ])
      .thenView(
        day1,
        totals(day1, {
          accountsOpened: 2,
          deposits: { count: 2, amount: 150_00 },
          withdrawals: { count: 1, amount: 30_00 },
          net: 120_00,
        }),
      )
      .thenView('2024-03-02', totals('2024-03-02', { deposits: { count: 1, amount: 5_00 }, net: 5_00 }))
      .thenNoView('2024-03-03')
  })

  it('a day is a UTC day: an eventTime with an offset counts on its UTC date', () => {
    expect(utcDay('2024-03-01T23:30:00-02:00')).toBe('2024-03-02')
    expect(utcDay('2024-03-02T00:30:00+01:00')).toBe('2024-03-01')
    givenEvents(dailyTotals, [created('acc-1', '2024-03-01T23:30:00-02:00')]).thenViews({
      '2024-03-02': totals('2024-03-02', { accountsOpened: 1 }),
    })
  })

  it('books a correction on its own day: the count and the sum of the differences, and the net', () => {
    const day2 = '2024-03-05'
    const spec = givenEvents(dailyTotals, [
      created('acc-1', at(day1)),
      deposited('acc-1', 100_00, 100_00, at(day1)), // acc-1@2: typed 100, the slip says 90
      deposited('acc-1', 20_00, 120_00, at(day2)),
      {
        type: 'DepositCorrected',
        payload: { difference: -10_00, balance: 110_00 },
        aggregateId: 'acc-1',
        eventTime: at(day2, '12:00:00'),
        corrects: ['acc-1@2'],
        correctionReason: 'typed 100, the slip says 90',
      },
      {
        type: 'DepositCorrected',
        payload: { difference: 2_50, balance: 112_50 },
        aggregateId: 'acc-1',
        eventTime: at(day2, '13:00:00'),
        corrects: ['acc-1@3'],
        correctionReason: 'cheque cleared higher',
      },
    ])
    spec
      .thenView(
        day1,
        totals(day1, { accountsOpened: 1, deposits: { count: 1, amount: 100_00 }, net: 100_00 }),
      )
      .thenView(
        day2,
        totals(day2, {
          deposits: { count: 1, amount: 20_00 },
          corrections: { count: 2, amount: -7_50 },
          net: 12_50,
        }),
      )
    // The day's net and the account's balance agree: 100 on day 1, then +20 -10 +2.50.
    expect(spec.views.get(day1)!.net + spec.views.get(day2)!.net).toBe(112_50)
  })

  it('projects the events the decider decides (a correction as decide returns it)', () => {
    const history = [
      { type: 'AccountCreated' as const, payload: { owner: 'Ada' } },
      { type: 'MoneyDeposited' as const, payload: { amount: 100, balance: 100 } },
    ]
    given(bank, history)
      .when({
        type: 'CorrectDeposit',
        payload: { eventId: 'aggregate-1@2', difference: -10, reason: 'slip' },
      })
      .then([
        correction(
          { type: 'DepositCorrected', payload: { difference: -10, balance: 90 } },
          { corrects: 'aggregate-1@2', reason: 'slip' },
        ),
      ])
    // Default eventTimes: 2024-01-01T00:00:00Z + i seconds, all on one day.
    givenEvents(dailyTotals, [
      ...history,
      { type: 'DepositCorrected', payload: { difference: -10, balance: 90 } },
    ]).thenViews({
      '2024-01-01': totals('2024-01-01', {
        accountsOpened: 1,
        deposits: { count: 1, amount: 100 },
        corrections: { count: 1, amount: -10 },
        net: 90,
      }),
    })
  })

  it('a wrong total fails the spec with the day, expected and actual', () => {
    expect(() =>
      givenEvents(dailyTotals, [created('acc-1', at(day1))]).thenView(
        day1,
        totals(day1, { accountsOpened: 2 }),
      ),
    ).toThrow(SpecFailedError)
    expect(() =>
      givenEvents(dailyTotals, [created('acc-1', at(day1))]).thenView(
        day1,
        totals(day1, { accountsOpened: 2 }),
      ),
    ).toThrow(
      /then view '2024-03-01'\nexpected: \{\n {2}accountsOpened: 2,.*\nactual: {3}\{\n {2}accountsOpened: 1,.*\ndiffers at: \.accountsOpened$/s,
    )
  })
})
