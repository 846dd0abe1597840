/**
 * Bank account, the classic event-sourcing example: open an account, deposit, withdraw.
 * Withdrawals beyond the balance are rejected (insufficient_funds); commands on a missing account are
 * rejected (account_not_found). Amounts are integer cents.
 */
import { z } from 'zod'
import { defineDecider, reject, type CommandOf, type EventOf, type StateOf } from 'kafka-decider'

export interface Account {
  status: 'none' | 'open'
  owner: string
  balance: number
}

const cents = z.number().int().positive().max(1_000_000_000_00)

// Command, event and state types are inferred from the schemas: in decide, `command.payload` has the type of
// `command.type`'s schema, and returning an event that is not declared (or a wrong payload) does not compile.
const bankAccount = defineDecider({
  initialState: (): Account => ({ status: 'none', owner: '', balance: 0 }),
  commands: {
    CreateAccount: z.object({ owner: z.string().min(1).max(200) }),
    Deposit: z.object({ amount: cents }),
    Withdraw: z.object({ amount: cents }),
  },
  events: {
    AccountCreated: z.object({ owner: z.string() }),
    MoneyDeposited: z.object({ amount: z.number(), balance: z.number() }),
    MoneyWithdrawn: z.object({ amount: z.number(), balance: z.number() }),
  },
  decide(command, state) {
    switch (command.type) {
      case 'CreateAccount':
        if (state.status === 'open') return reject('account_exists', 'the account is already open')
        return [{ type: 'AccountCreated', payload: { owner: command.payload.owner } }]
      case 'Deposit':
        if (state.status !== 'open') return reject('account_not_found', 'open the account first (CreateAccount)')
        return [{ type: 'MoneyDeposited', payload: { amount: command.payload.amount, balance: state.balance + command.payload.amount } }]
      case 'Withdraw':
        if (state.status !== 'open') return reject('account_not_found', 'open the account first (CreateAccount)')
        if (command.payload.amount > state.balance) {
          return reject('insufficient_funds', `balance ${state.balance} is less than ${command.payload.amount}`)
        }
        return [{ type: 'MoneyWithdrawn', payload: { amount: command.payload.amount, balance: state.balance - command.payload.amount } }]
    }
  },
  evolve(state, event): Account {
    switch (event.type) {
      case 'AccountCreated':
        return { status: 'open', owner: event.payload.owner, balance: 0 }
      case 'MoneyDeposited':
        return { ...state, balance: state.balance + event.payload.amount }
      case 'MoneyWithdrawn':
        return { ...state, balance: state.balance - event.payload.amount }
    }
  },
})

export default bankAccount

/** The types a client, a projection or a test can use, inferred from the definition above. */
export type AccountCommand = CommandOf<typeof bankAccount>
export type AccountEvent = EventOf<typeof bankAccount>
export type AccountState = StateOf<typeof bankAccount>
