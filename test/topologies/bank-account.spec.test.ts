/** Given/when/then specs of the bank-account sample decider (kafka-decider/testing). */
import { describe, expect, expectTypeOf, it } from 'vitest'
import { correction } from '../../src/index.ts'
import { given, SpecFailedError } from '../../src/testing/index.ts'
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

  it('corrects a deposit with an event that names it, and refuses what it cannot absorb', () => {
    const history = [created, deposited(100, 100)]
    const fix = { eventId: 'aggregate-1@2', difference: -10, reason: 'typed 100, the slip says 90' }
    const state = given(bank, history)
      .when({ type: 'CorrectDeposit', payload: fix })
      .then([
        correction(
          { type: 'DepositCorrected', payload: { difference: -10, balance: 90 } },
          { corrects: 'aggregate-1@2', reason: 'typed 100, the slip says 90' },
        ),
      ])
    expect(state).toEqual({ status: 'open', owner: 'Ada', balance: 90 })
    given(bank, history)
      .when({ type: 'CorrectDeposit', payload: { ...fix, difference: -101 } })
      .thenRejected('insufficient_funds', /cannot absorb a correction of -101/)
    given(bank).when({ type: 'CorrectDeposit', payload: fix }).thenRejected('account_not_found')
  })

  it('then() compares the correction link too; a link to no earlier event fails the spec as it fails the command', () => {
    const history = [created, deposited(100, 100)]
    const when = (eventId: string) =>
      given(bank, history).when({
        type: 'CorrectDeposit',
        payload: { eventId, difference: 5, reason: 'r' },
      })
    const plainEvent = { type: 'DepositCorrected' as const, payload: { difference: 5, balance: 105 } }
    // Same type and payload, but no link (or another one): not the same decision.
    expect(() => when('aggregate-1@2').then([plainEvent])).toThrow(SpecFailedError)
    expect(() =>
      when('aggregate-1@2').then([correction(plainEvent, { corrects: 'aggregate-1@1', reason: 'r' })]),
    ).toThrow(SpecFailedError)
    expect(() => when('aggregate-1@3')).toThrow(/not an earlier event of aggregate aggregate-1/)
    expect(() => when('other@1')).toThrow(/not an earlier event/)
  })

  it('command, event and state types are inferred from the decider definition', () => {
    expectTypeOf<Extract<AccountCommand, { type: 'Deposit' }>['payload']>().toEqualTypeOf<{
      amount: number
    }>()
    expectTypeOf<AccountEvent['type']>().toEqualTypeOf<
      'AccountCreated' | 'MoneyDeposited' | 'MoneyWithdrawn' | 'DepositCorrected'
    >()
    expectTypeOf<AccountState['status']>().toEqualTypeOf<'none' | 'open'>()
    // Compile-time: tsc (CI's typecheck) fails if this line compiles. At run time decide sees the bad payload.
    // @ts-expect-error: Deposit's payload has no "owner" (the spec does not compile)
    const wrong = () => given(bank).when({ type: 'Deposit', payload: { owner: 'x' } })
    expectTypeOf(wrong).toBeFunction()
  })
})

describe('bank-account v2 spec over stored v1 events', () => {
  it('given() upcasts an event with a schemaVersion before evolve sees it', async () => {
    const { default: bankV2 } = await import('../fixtures/bank-account-v2.ts')
    const v1Deposit = {
      type: 'MoneyDeposited' as const,
      payload: { amount: 5, balance: 5 },
      schemaVersion: 1,
    }
    const spec = given(bankV2, [created, v1Deposit])
    expect(spec.state).toEqual({ status: 'open', owner: 'Ada', balance: 5, deposits: 1 })
    spec
      .when({ type: 'Deposit', payload: { amount: 2 } })
      .then([{ type: 'MoneyDeposited', payload: { amount: 2, balance: 7, currency: 'EUR' } }])
    // A version the decider does not know fails the spec with the typed error's message.
    expect(() => given(bankV2, [created, { ...v1Deposit, schemaVersion: 3 }]).state).toThrow(
      /schemaVersion 3\): this decider knows MoneyDeposited up to schemaVersion 2/,
    )
  })
})
