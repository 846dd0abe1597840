import { describe, expect, it } from 'vitest'
import { fold, type CommandOf, type EventOf, type StateOf } from '../../src/index.ts'
import { decideAfter } from '../../src/testing/decide.ts'
import bank from '../../topologies/bank-account.ts'

type Cmd = CommandOf<typeof bank>
type Evt = EventOf<typeof bank>
type State = StateOf<typeof bank>

/** given events, when command, then: the events or the rejection decide returns. */
function given(events: Evt[]) {
  const state: State = fold(bank, events)
  return {
    state,
    when(command: Cmd) {
      const { decision } = decideAfter(bank, events, command, { aggregateId: 'acc-1', commandId: 'c' })
      return {
        thenEvents: (expected: Evt[]) => {
          expect('rejected' in decision).toBe(false)
          if ('events' in decision) expect(decision.events).toEqual(expected)
        },
        thenRejected: (code: string) => {
          expect('rejected' in decision).toBe(true)
          if ('rejected' in decision) {
            expect(decision.rejected).toBe(code)
            expect(decision.message.length).toBeGreaterThan(0)
          }
        },
      }
    },
  }
}

const created: Evt = { type: 'AccountCreated', payload: { owner: 'Ada' } }

describe('bank-account decider', () => {
  it('starts with no account', () => {
    expect(bank.initialState()).toEqual({ status: 'none', owner: '', balance: 0 })
  })

  it('CreateAccount on a new aggregate -> AccountCreated', () => {
    given([])
      .when({ type: 'CreateAccount', payload: { owner: 'Ada' } })
      .thenEvents([created])
  })

  it('CreateAccount on an open account -> account_exists', () => {
    given([created])
      .when({ type: 'CreateAccount', payload: { owner: 'Bob' } })
      .thenRejected('account_exists')
  })

  it('Deposit on an open account -> MoneyDeposited with the new balance', () => {
    given([created, { type: 'MoneyDeposited', payload: { amount: 100, balance: 100 } }])
      .when({ type: 'Deposit', payload: { amount: 50 } })
      .thenEvents([{ type: 'MoneyDeposited', payload: { amount: 50, balance: 150 } }])
  })

  it('Withdraw within the balance -> MoneyWithdrawn with the new balance', () => {
    given([created, { type: 'MoneyDeposited', payload: { amount: 100, balance: 100 } }])
      .when({ type: 'Withdraw', payload: { amount: 100 } })
      .thenEvents([{ type: 'MoneyWithdrawn', payload: { amount: 100, balance: 0 } }])
  })

  it('Withdraw beyond the balance -> insufficient_funds', () => {
    given([created, { type: 'MoneyDeposited', payload: { amount: 100, balance: 100 } }])
      .when({ type: 'Withdraw', payload: { amount: 101 } })
      .thenRejected('insufficient_funds')
  })

  it('Deposit or Withdraw on a missing account -> account_not_found', () => {
    given([])
      .when({ type: 'Deposit', payload: { amount: 1 } })
      .thenRejected('account_not_found')
    given([])
      .when({ type: 'Withdraw', payload: { amount: 1 } })
      .thenRejected('account_not_found')
  })

  it('evolve folds the balance', () => {
    const s = fold(bank, [
      created,
      { type: 'MoneyDeposited', payload: { amount: 100, balance: 100 } },
      { type: 'MoneyWithdrawn', payload: { amount: 30, balance: 70 } },
      { type: 'MoneyDeposited', payload: { amount: 5, balance: 75 } },
    ])
    expect(s).toEqual({ status: 'open', owner: 'Ada', balance: 75 })
  })

  it('payload schemas: amounts are positive integer cents, owner non-empty', () => {
    expect(bank.commands.Deposit.safeParse({ amount: 10 }).success).toBe(true)
    expect(bank.commands.Deposit.safeParse({ amount: 0 }).success).toBe(false)
    expect(bank.commands.Deposit.safeParse({ amount: -5 }).success).toBe(false)
    expect(bank.commands.Withdraw.safeParse({ amount: 1.5 }).success).toBe(false)
    expect(bank.commands.CreateAccount.safeParse({ owner: '' }).success).toBe(false)
  })

  it('decide does not mutate the state it is given', () => {
    const state = fold(bank, [created])
    const copy = structuredClone(state)
    bank.decide({ type: 'Deposit', payload: { amount: 5 } }, state, {
      aggregateId: 'acc-1',
      commandId: 'c',
      version: 1,
      issuedAt: '2024-01-01T00:00:00.000Z',
      metadata: {},
    })
    expect(state).toEqual(copy)
  })
})
