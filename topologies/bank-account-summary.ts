/**
 * One summary per bank account: owner, balance, when it was opened, how many deposits and withdrawals (and
 * corrections) it had, and the business time of its last event. Keyed like the aggregate (view key = aggregateId),
 * the simplest read model: one account's events all land in its view, in version order.
 */
import { defineProjection } from 'kafka-decider'
import type { AccountEvent } from './bank-account.ts'

export interface AccountSummary {
  owner: string
  /** Cents, after the last event (each money event carries the balance the decider computed). */
  balance: number
  /** Deposits and withdrawals. */
  transactions: number
  corrections: number
  /** eventTime of AccountCreated. */
  openedAt: string
  /** eventTime of the account's last event. */
  lastEventTime: string
}

export default defineProjection<AccountEvent, AccountSummary>({
  key: (e) => e.aggregateId,
  // No initialState: the view of an account exists from its AccountCreated on (the decider refuses every other
  // command before it), so project receives undefined only for that event.
  project: (view, e) => {
    const at = e.eventTime
    if (e.type === 'AccountCreated')
      return {
        owner: e.payload.owner,
        balance: 0,
        transactions: 0,
        corrections: 0,
        openedAt: at,
        lastEventTime: at,
      }
    if (view === undefined) return undefined // not an account this projection knows: leave it (no view)
    switch (e.type) {
      case 'MoneyDeposited':
      case 'MoneyWithdrawn':
        return { ...view, balance: e.payload.balance, transactions: view.transactions + 1, lastEventTime: at }
      case 'DepositCorrected':
        return { ...view, balance: e.payload.balance, corrections: view.corrections + 1, lastEventTime: at }
    }
  },
})
