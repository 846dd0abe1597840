/** Given/when/then specs of the bank-account sample decider (kafka-decider/testing). */
import { describe, expect, expectTypeOf, it } from 'vitest'
import { given } from '../../src/testing/index.ts'
import bank, {
  type AccountCommand,
  type AccountEvent,
  type AccountState,
} from '../../topologies/bank-account.ts'

const created = { type: 'AccountCreated' as const, payload: { owner: 'Ada' } }
const deposited = (amount: number, balance: number) => ({
  type: 'MoneyDeposited' as const,
  payload: { amount, balance },
})

describe('bank-account spec', () => {
  it('opens an account once', () => {
    given(bank, [])
      .when({ type: 'CreateAccount', payload: { owner: 'Ada' } })
      .then([created])
    given(bank, [created])
      .when({ type: 'CreateAccount', payload: { owner: 'Bob' } })
      .thenRejected('account_exists')
  })

  it('deposits and withdraws within the balance', () => {
    given(bank, [created])
      .when({ type: 'Deposit', payload: { amount: 100 } })
      .then([deposited(100, 100)])
    given(bank, [created, deposited(100, 100)])
      .when({ type: 'Withdraw', payload: { amount: 40 } })
      .then([{ type: 'MoneyWithdrawn', payload: { amount: 40, balance: 60 } }])
  })

  it('refuses overdrafts and commands on a missing account', () => {
    given(bank, [created, deposited(100, 100)])
      .when({ type: 'Withdraw', payload: { amount: 101 } })
      .thenRejected('insufficient_funds', /balance 100/)
    given(bank)
      .when({ type: 'Deposit', payload: { amount: 1 } })
      .thenRejected('account_not_found')
    given(bank)
      .when({ type: 'Withdraw', payload: { amount: 1 } })
      .thenRejected('account_not_found')
  })

  it('command, event and state types are inferred from the decider definition', () => {
    expectTypeOf<Extract<AccountCommand, { type: 'Deposit' }>['payload']>().toEqualTypeOf<{
      amount: number
    }>()
    expectTypeOf<AccountEvent['type']>().toEqualTypeOf<
      'AccountCreated' | 'MoneyDeposited' | 'MoneyWithdrawn'
    >()
    expectTypeOf<AccountState['status']>().toEqualTypeOf<'none' | 'open'>()
    // @ts-expect-error: Deposit's payload has no "owner" (the spec does not compile)
    expect(() => given(bank).when({ type: 'Deposit', payload: { owner: 'x' } })).toBeDefined()
  })
})
