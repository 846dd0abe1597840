/** Given/then specs of the bank-account-summary sample projection (kafka-decider/testing). */
import { describe, it } from 'vitest'
import { givenEvents } from '../../src/testing/index.ts'
import summary from '../../topologies/bank-account-summary.ts'

const created = (owner: string, aggregateId = 'aggregate-1') => ({
  type: 'AccountCreated' as const,
  payload: { owner },
  aggregateId,
})
const deposited = (amount: number, balance: number, aggregateId = 'aggregate-1') => ({
  type: 'MoneyDeposited' as const,
  payload: { amount, balance },
  aggregateId,
})
const withdrawn = (amount: number, balance: number, aggregateId = 'aggregate-1') => ({
  type: 'MoneyWithdrawn' as const,
  payload: { amount, balance },
  aggregateId,
})

describe('bank-account-summary projection', () => {
  it('one view per account, keyed by the aggregate id', () => {
    // Default eventTimes: 2024-01-01T00:00:00Z, then one second per event.
    givenEvents(summary, [
      created('Ada', 'acc-1'),
      created('Bob', 'acc-2'),
      deposited(100, 100, 'acc-1'),
      deposited(40, 40, 'acc-2'),
      withdrawn(30, 70, 'acc-1'),
    ]).thenViews({
      'acc-1': {
        owner: 'Ada',
        balance: 70,
        transactions: 2,
        corrections: 0,
        openedAt: '2024-01-01T00:00:00.000Z',
        lastEventTime: '2024-01-01T00:00:04.000Z',
      },
      'acc-2': {
        owner: 'Bob',
        balance: 40,
        transactions: 1,
        corrections: 0,
        openedAt: '2024-01-01T00:00:01.000Z',
        lastEventTime: '2024-01-01T00:00:03.000Z',
      },
    })
  })

  it('a correction sets the balance it carries and counts as a correction, not a transaction', () => {
    givenEvents(summary, [
      { ...created('Ada'), eventTime: '2024-02-01T09:00:00.000Z' },
      { ...deposited(100, 100), eventTime: '2024-02-01T10:00:00.000Z' },
      {
        type: 'DepositCorrected',
        payload: { difference: -10, balance: 90 },
        eventTime: '2024-04-02T08:00:00.000Z',
        corrects: ['aggregate-1@2'],
        correctionReason: 'typed 100, the slip says 90',
      },
    ]).thenView('aggregate-1', {
      owner: 'Ada',
      balance: 90,
      transactions: 1,
      corrections: 1,
      openedAt: '2024-02-01T09:00:00.000Z',
      lastEventTime: '2024-04-02T08:00:00.000Z',
    })
  })

  it('an account whose AccountCreated it never saw has no view (project returns undefined: unchanged)', () => {
    givenEvents(summary, [deposited(5, 5, 'acc-9'), withdrawn(5, 0, 'acc-9')])
      .thenNoView('acc-9')
      .thenViews({})
  })
})
