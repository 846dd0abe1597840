/**
 * An account: open it, deposit, withdraw. A withdrawal beyond the balance is rejected (insufficient_funds).
 * Amounts are integer cents. decide() checks a command against the state and returns events (or a rejection);
 * evolve() folds an event into the state. Both are pure: no I/O, no clock, no randomness.
 */
import { z } from 'zod'
import { defineDecider, reject, type CommandOf, type EventOf, type StateOf } from 'kafka-decider'

const cents = z.number().int().positive()

const account = defineDecider({
  initialState: () => ({ open: false, owner: '', balance: 0 }),
  commands: {
    OpenAccount: z.object({ owner: z.string().min(1).max(200) }),
    Deposit: z.object({ amount: cents }),
    Withdraw: z.object({ amount: cents }),
  },
  events: {
    AccountOpened: z.object({ owner: z.string() }),
    MoneyDeposited: z.object({ amount: z.number() }),
    MoneyWithdrawn: z.object({ amount: z.number() }),
  },
  decide(command, state) {
    switch (command.type) {
      case 'OpenAccount':
        if (state.open) return reject('account_exists', 'the account is already open')
        return [{ type: 'AccountOpened', payload: { owner: command.payload.owner } }]
      case 'Deposit':
        if (!state.open) return reject('account_not_found', 'open the account first (OpenAccount)')
        return [{ type: 'MoneyDeposited', payload: { amount: command.payload.amount } }]
      case 'Withdraw':
        if (!state.open) return reject('account_not_found', 'open the account first (OpenAccount)')
        if (command.payload.amount > state.balance)
          return reject('insufficient_funds', `balance ${state.balance} is less than ${command.payload.amount}`)
        return [{ type: 'MoneyWithdrawn', payload: { amount: command.payload.amount } }]
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'AccountOpened':
        return { open: true, owner: event.payload.owner, balance: 0 }
      case 'MoneyDeposited':
        return { ...state, balance: state.balance + event.payload.amount }
      case 'MoneyWithdrawn':
        return { ...state, balance: state.balance - event.payload.amount }
    }
  },
})

export default account
export type AccountCommand = CommandOf<typeof account>
export type AccountEvent = EventOf<typeof account>
export type AccountState = StateOf<typeof account>
