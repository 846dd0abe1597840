/** Given/when/then specs of the account decider, and the whole topology in memory (no Kafka needed). */
import { describe, expect, it } from 'vitest'
import { given, TopologyTestDriver } from 'kafka-decider/testing'
import account from '../src/account.ts'

const opened = { type: 'AccountOpened' as const, payload: { owner: 'Ada' } }
const deposited = (amount: number) => ({ type: 'MoneyDeposited' as const, payload: { amount } })

describe('account', () => {
  it('opens once', () => {
    given(account, []).when({ type: 'OpenAccount', payload: { owner: 'Ada' } }).then([opened])
    given(account, [opened]).when({ type: 'OpenAccount', payload: { owner: 'Bob' } }).thenRejected('account_exists')
  })

  it('withdraws within the balance only', () => {
    const after = given(account, [opened, deposited(100)])
      .when({ type: 'Withdraw', payload: { amount: 60 } })
      .then([{ type: 'MoneyWithdrawn', payload: { amount: 60 } }])
    expect(after).toEqual({ open: true, owner: 'Ada', balance: 40 })
    given(account, [opened, deposited(100)])
      .when({ type: 'Withdraw', payload: { amount: 500 } })
      .thenRejected('insufficient_funds')
  })

  it('runs the topology file: replies, events and state', async () => {
    const driver = await TopologyTestDriver.fromFile('topologies/{{name}}.yaml')
    await driver.pipe({ aggregateId: 'acc-1', type: 'OpenAccount', payload: { owner: 'Ada' } })
    const reply = await driver.pipe({ aggregateId: 'acc-1', type: 'Deposit', payload: { amount: 100 } })
    expect(reply).toMatchObject({ status: 'accepted', version: 2 })
    expect(driver.events('acc-1').map((e) => e.type)).toEqual(['AccountOpened', 'MoneyDeposited'])
    expect(await driver.state('acc-1')).toEqual({ open: true, owner: 'Ada', balance: 100 })
    await driver.close()
  })
})
