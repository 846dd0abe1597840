/**
 * Event versioning and corrections through the TopologyTestDriver (the real Task over in-memory Kafka): version 1
 * of the bank decider writes events and snapshots; version 2 (a new MoneyDeposited shape with an upcaster, and
 * stateVersion 2) starts over the same log, as a new deployment would, and must read everything as the model says.
 */
import { describe, expect, it } from 'vitest'
import { TopologyTestDriver } from '../../src/testing/index.ts'
import bank from '../../topologies/bank-account.ts'
import bankV2, { modelV2 } from '../fixtures/bank-account-v2.ts'

type Cmd = {
  aggregateId: string
  type: 'CreateAccount' | 'Deposit' | 'Withdraw'
  payload: Record<string, unknown>
}

const ACCOUNTS = ['acc-1', 'acc-2', 'acc-3', 'acc-4', 'acc-5', 'acc-6']
/** Per account: opened, a few deposits, one withdrawal that fits and one that does not. */
function v1Workload(): Cmd[] {
  return ACCOUNTS.flatMap((id, i): Cmd[] => [
    { aggregateId: id, type: 'CreateAccount', payload: { owner: `owner-${i}` } },
    { aggregateId: id, type: 'Deposit', payload: { amount: 100 + i } },
    { aggregateId: id, type: 'Deposit', payload: { amount: 7 } },
    { aggregateId: id, type: 'Withdraw', payload: { amount: 50 } },
    { aggregateId: id, type: 'Withdraw', payload: { amount: 10_000 } },
  ])
}

const commandsOf = (cmds: Cmd[], id: string) => cmds.filter((c) => c.aggregateId === id)

async function v1Run(cmds: Cmd[]) {
  const v1 = await TopologyTestDriver.create(bank, { definition: { name: 'bank-versions', partitions: 3 } })
  await v1.pipeAll(cmds)
  await v1.close()
  return v1
}

describe('event versioning (TopologyTestDriver)', () => {
  it('v2 over v1 events and snapshots: reads are upcast, stale snapshots are rebuilt, new events are v2', async () => {
    const cmds = v1Workload()
    const v1 = await v1Run(cmds)
    expect(v1.recordedEvents('acc-1').map((e) => e.schemaVersion)).toEqual([1, 1, 1, 1])
    expect((await v1.storeSnapshots()).get('acc-1')?.stateVersion).toBe(1)

    const v2 = await TopologyTestDriver.create(bankV2, {
      definition: { name: 'bank-versions', partitions: 3 },
      log: v1.log,
    })
    // The new tasks restored v1's snapshots from the changelog: stored, but not trusted.
    expect((await v2.storeSnapshots()).get('acc-2')?.stateVersion).toBe(1)
    for (const id of ACCOUNTS) {
      // Reads: events upcast (v1 deposits get currency EUR), the recorded ones untouched.
      const deposits = v2.events(id).filter((e) => e.type === 'MoneyDeposited')
      expect(deposits.map((e) => [e.schemaVersion, e.payload.currency])).toEqual([
        [2, 'EUR'],
        [2, 'EUR'],
      ])
      expect(v2.recordedEvents(id).filter((e) => e.type === 'MoneyDeposited')[0]!.payload).not.toHaveProperty(
        'currency',
      )
      expect(v2.foldedState(id)).toEqual(modelV2(commandsOf(cmds, id)))
      // The read of the snapshot: the stale one is rebuilt from the events, never shown as stored.
      expect(await v2.state(id)).toEqual(modelV2(commandsOf(cmds, id)))
    }

    // Commands on v1 aggregates: decided on the rebuilt state, written as stateVersion 2 and schemaVersion 2.
    const more: Cmd[] = ACCOUNTS.flatMap((id): Cmd[] => [
      { aggregateId: id, type: 'Deposit', payload: { amount: 3 } },
      { aggregateId: id, type: 'Withdraw', payload: { amount: 60 } },
    ])
    const replies = await v2.pipeAll(more)
    expect(replies.map((r) => r?.status)).toEqual(more.map(() => 'accepted'))
    const all = [...cmds, ...more]
    for (const id of ACCOUNTS) {
      const model = modelV2(commandsOf(all, id))
      expect(await v2.state(id)).toEqual(model)
      expect(v2.foldedState(id)).toEqual(model)
      const snapshot = await v2.snapshot(id)
      expect(snapshot).toMatchObject({ version: 6, stateVersion: 2, state: model })
      expect(v2.changelogSnapshots().get(id)).toMatchObject({ version: 6, stateVersion: 2, state: model })
      // schemaVersion is per type: the new deposit is v2, the account's creation stays v1.
      expect(v2.recordedEvents(id).map((e) => [e.type, e.schemaVersion])).toEqual([
        ['AccountCreated', 1],
        ['MoneyDeposited', 1],
        ['MoneyDeposited', 1],
        ['MoneyWithdrawn', 1],
        ['MoneyDeposited', 2],
        ['MoneyWithdrawn', 1],
      ])
    }
    // Dedupe survives the rebuild: v1's commandIds are still remembered.
    const first = v1.replies().find((r) => r.status === 'accepted')!
    expect(
      await v2.pipe({
        aggregateId: first.aggregateId,
        type: 'CreateAccount',
        payload: { owner: 'x' },
        commandId: first.commandId,
      }),
    ).toMatchObject({ status: 'duplicate', originalStatus: 'accepted' })

    // A new machine (empty stores) restores from the changelog; the rest of v1's snapshots are rebuilt on read.
    await v2.restart({ partitions: [0, 1, 2], loseLocalState: true })
    for (const id of ACCOUNTS) expect(await v2.state(id)).toEqual(modelV2(commandsOf(all, id)))
    await v2.close()
  })

  it('a stored event newer than the code, or an upcaster that breaks, is a typed error naming the event', async () => {
    const v1 = await v1Run(v1Workload().slice(0, 2))
    const [created, deposited] = v1.recordedEvents('acc-1')
    const broken = { ...bankV2, upcasters: { MoneyDeposited: [(p: object) => ({ ...p, currency: 'EURO' })] } }
    const v2 = await TopologyTestDriver.create(bankV2, {
      definition: { name: 'bank-versions', partitions: 3 },
      log: v1.log,
    })
    // A v3 deposit (written by a newer decider) next to the v1 ones.
    v1.log.produce(v2.topology.topics.events, {
      partition: v2.partitionOf('acc-1'),
      key: 'acc-1',
      value: Buffer.from(JSON.stringify({ ...deposited, version: 3, eventId: 'acc-1@3', schemaVersion: 3 })),
    })
    expect(() => v2.events('acc-1')).toThrow(
      /stored event MoneyDeposited of aggregate acc-1 at version 3 \(eventId acc-1@3, schemaVersion 3\): this decider knows MoneyDeposited up to schemaVersion 2.*Deploy/,
    )
    const { upcastEvent } = await import('../../src/domain/upcasting.ts')
    expect(() => upcastEvent(broken as never, deposited!)).toThrow(
      /fails MoneyDeposited's current schema \(v2\): currency/,
    )
    expect(upcastEvent(broken as never, created!)).toBe(created)
    await v2.close()
  })
})

describe('corrections (TopologyTestDriver)', () => {
  it('a correction is an event that names the one it corrects; reads show the history as recorded and as corrected', async () => {
    const d = await TopologyTestDriver.fromFile('topologies/bank-account.yaml')
    await d.pipeAll([
      { aggregateId: 'acc-1', type: 'CreateAccount', payload: { owner: 'Ada' } },
      { aggregateId: 'acc-1', type: 'Deposit', payload: { amount: 100 } },
      { aggregateId: 'acc-1', type: 'Deposit', payload: { amount: 40 } },
    ])
    const reply = await d.pipe({
      aggregateId: 'acc-1',
      type: 'CorrectDeposit',
      payload: { eventId: 'acc-1@2', difference: -10, reason: 'the slip says 90' },
    })
    expect(reply).toMatchObject({ status: 'accepted', version: 4, events: [['DepositCorrected', 4]] })
    const correctionEvent = d.events('acc-1')[3]!
    expect(correctionEvent).toMatchObject({
      eventId: 'acc-1@4',
      type: 'DepositCorrected',
      payload: { difference: -10, balance: 130 },
      corrects: ['acc-1@2'],
      correctionReason: 'the slip says 90',
    })
    expect(d.events('acc-1')[1]).not.toHaveProperty('corrects')
    expect(await d.state('acc-1')).toEqual({ status: 'open', owner: 'Ada', balance: 130 })
    expect(d.foldedState('acc-1')).toEqual(await d.state('acc-1'))

    const recorded = d.history('acc-1', 'recorded')
    expect(recorded.map((e) => [e.eventId, e.correctedBy])).toEqual([
      ['acc-1@1', undefined],
      ['acc-1@2', [{ eventId: 'acc-1@4', reason: 'the slip says 90' }]],
      ['acc-1@3', undefined],
      ['acc-1@4', undefined],
    ])
    expect(d.history('acc-1', 'corrected').map((e) => e.eventId)).toEqual(['acc-1@1', 'acc-1@3', 'acc-1@4'])

    // A link to no earlier event of this aggregate fails the command (a bug of decide), nothing is recorded.
    const bad = await d.pipe({
      aggregateId: 'acc-1',
      type: 'CorrectDeposit',
      payload: { eventId: 'acc-2@1', difference: 1, reason: 'wrong account' },
    })
    expect(bad).toMatchObject({ status: 'failed', error: { code: 'invalid_decision' } })
    expect(bad?.error?.message).toMatch(/acc-2@1.*not an earlier event of aggregate acc-1/)
    expect(d.events('acc-1')).toHaveLength(4)
    await d.close()
  })
})
