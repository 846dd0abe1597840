/**
 * Daily totals of the bank-account sample: per day (the UTC date of each event's eventTime, `YYYY-MM-DD`), the
 * deposits, withdrawals and corrections (count and amount in cents), the accounts opened and the net flow.
 *
 * A read model keyed differently from its source: the aggregate is an account, the view a day, so the events of
 * every account of one day meet in one view. The runtime repartitions the events by view key before projecting
 * them (README "Read side"): each day's view is written by exactly one task. So a day's events, of every account,
 * all go through that task: fine for a few counters per event; a view that does heavy work per event would be a
 * hot spot.
 *
 * A DepositCorrected event is booked on the day it was recorded for (its own eventTime): key() sees one event,
 * and the correction names the deposit it corrects (its eventId), not that deposit's day.
 */
import { defineProjection } from 'kafka-decider'
import type { AccountEvent } from './bank-account.ts'

export interface Totals {
  count: number
  /** Cents. */
  amount: number
}

export interface DailyTotals {
  day: string
  accountsOpened: number
  deposits: Totals
  withdrawals: Totals
  /** DepositCorrected events; amount: the sum of their differences (negative when deposits were too high). */
  corrections: Totals
  /** deposits + corrections - withdrawals, in cents. */
  net: number
}

/** The UTC date of an ISO-8601 time, `YYYY-MM-DD`. */
export function utcDay(time: string): string {
  const d = new Date(time)
  if (Number.isNaN(d.getTime())) throw new Error(`eventTime ${JSON.stringify(time)} is not a time`)
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`
}

const add = (t: Totals, amount: number): Totals => ({ count: t.count + 1, amount: t.amount + amount })

export default defineProjection<AccountEvent, DailyTotals>({
  key: (e) => utcDay(e.eventTime),
  initialState: () => ({
    day: '',
    accountsOpened: 0,
    deposits: { count: 0, amount: 0 },
    withdrawals: { count: 0, amount: 0 },
    corrections: { count: 0, amount: 0 },
    net: 0,
  }),
  // view is the day's totals so far (initialState for the day's first event); it is frozen: return a new one.
  project: (view, e, day) => {
    const v = { ...view!, day }
    switch (e.type) {
      case 'AccountCreated':
        return { ...v, accountsOpened: v.accountsOpened + 1 }
      case 'MoneyDeposited':
        return { ...v, deposits: add(v.deposits, e.payload.amount), net: v.net + e.payload.amount }
      case 'MoneyWithdrawn':
        return { ...v, withdrawals: add(v.withdrawals, e.payload.amount), net: v.net - e.payload.amount }
      case 'DepositCorrected':
        return {
          ...v,
          corrections: add(v.corrections, e.payload.difference),
          net: v.net + e.payload.difference,
        }
    }
  },
})
