/**
 * Bank account, the classic event-sourcing example: open an account, deposit, withdraw, correct a deposit.
 * Withdrawals beyond the balance are rejected (insufficient_funds); commands on a missing account are
 * rejected (account_not_found). Amounts are integer cents. A wrong deposit is never rewritten: CorrectDeposit
 * records a DepositCorrected event that names it (a correction, README "Corrections") and adjusts the balance.
 */
import { z } from 'zod'
import { correction, defineDecider, reject, type CommandOf, type EventOf, type StateOf } from 'kafka-decider'

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
    // eventId: the deposit's (`<account>@<version>`); difference: the right amount minus the recorded one.
    CorrectDeposit: z.object({
      eventId: z.string().min(1).max(300),
      difference: z.number().int().min(-1_000_000_000_00).max(1_000_000_000_00).refine((n) => n !== 0, 'must not be 0'),
      reason: z.string().min(1).max(500),
    }),
  },
  events: {
    AccountCreated: z.object({ owner: z.string() }),
    MoneyDeposited: z.object({ amount: z.number(), balance: z.number() }),
    MoneyWithdrawn: z.object({ amount: z.number(), balance: z.number() }),
    DepositCorrected: z.object({ difference: z.number(), balance: z.number() }),
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
      case 'CorrectDeposit': {
        if (state.status !== 'open') return reject('account_not_found', 'open the account first (CreateAccount)')
        const { eventId, difference, reason } = command.payload
        const balance = state.balance + difference
        if (balance < 0) return reject('insufficient_funds', `balance ${state.balance} cannot absorb a correction of ${difference}`)
        // The worker checks that eventId names an earlier event of this account (else the command fails).
        return correction({ type: 'DepositCorrected', payload: { difference, balance } }, { corrects: eventId, reason })
      }
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
      case 'DepositCorrected':
        return { ...state, balance: state.balance + event.payload.difference }
    }
  },
})

export default bankAccount

/** The types a client, a projection or a test can use, inferred from the definition above. */
export type AccountCommand = CommandOf<typeof bankAccount>
export type AccountEvent = EventOf<typeof bankAccount>
export type AccountState = StateOf<typeof bankAccount>
