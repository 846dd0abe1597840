/** The bank-account topology through TopologyTestDriver: the real Task over in-memory Kafka, with crashes. */
import { describe, expect, it } from 'vitest'
import { decode } from '../../src/domain/codec.ts'
import { HEADERS } from '../../src/domain/envelopes.ts'
import { TopologyTestDriver, type CrashPoint } from '../../src/testing/index.ts'
import bank from '../../topologies/bank-account.ts'

describe('bank-account topology (TopologyTestDriver)', () => {
  it('loads the topology file and answers commands with replies, events and snapshots', async () => {
    const driver = await TopologyTestDriver.fromFile('topologies/bank-account.yaml')
    expect(driver.topology.definition.partitions).toBe(6)
    expect(
      await driver.pipe({ aggregateId: 'acc-1', type: 'CreateAccount', payload: { owner: 'Ada' } }),
    ).toMatchObject({ status: 'accepted', version: 1 })
    expect(
      await driver.pipe({ aggregateId: 'acc-1', type: 'Deposit', payload: { amount: 100 } }),
    ).toMatchObject({ status: 'accepted', version: 2 })
    const refused = await driver.pipe({ aggregateId: 'acc-1', type: 'Withdraw', payload: { amount: 500 } })
    expect(refused).toMatchObject({ status: 'rejected', error: { code: 'insufficient_funds' } })
    expect(driver.events('acc-1').map((e) => [e.type, e.version])).toEqual([
      ['AccountCreated', 1],
      ['MoneyDeposited', 2],
    ])
    expect(driver.events('acc-1')[1]!.eventTime).toBe('2024-01-01T00:00:00.000Z')
    expect(await driver.state('acc-1')).toEqual({ status: 'open', owner: 'Ada', balance: 100 })
    expect((await driver.snapshot('acc-1'))?.version).toBe(2)
    await driver.close()
  })

  it('typed commands; duplicates, conflicts and dead letters', async () => {
    const driver = await TopologyTestDriver.create(bank, { definition: { name: 'bank-test', partitions: 3 } })
    await driver.pipe({ aggregateId: 'a', type: 'CreateAccount', payload: { owner: 'Ada' }, commandId: 'c1' })
    expect(
      await driver.pipe({
        aggregateId: 'a',
        type: 'CreateAccount',
        payload: { owner: 'Ada' },
        commandId: 'c1',
      }),
    ).toMatchObject({ status: 'duplicate', originalStatus: 'accepted' })
    expect(
      await driver.pipe({ aggregateId: 'a', type: 'Deposit', payload: { amount: 5 }, expectedVersion: 7 }),
    ).toMatchObject({ status: 'conflict' })
    expect(await driver.pipe({ aggregateId: 'a', type: 'Deposit', payload: { amount: -5 } })).toMatchObject({
      status: 'invalid',
    })
    driver.sendRaw('a', 'not msgpack at all')
    await driver.process()
    const dl = driver.deadLetters()
    expect(dl.map((d) => d.key)).toEqual(['a', 'a'])
    expect(dl.every((d) => d.errorCode !== undefined && d.sourcePartition === driver.partitionOf('a'))).toBe(
      true,
    )
    expect(driver.events('a')).toHaveLength(1)
  })

  it("replies name their command record (kd-source-*); pipe resolves with its own record's reply, not an earlier send's", async () => {
    const driver = await TopologyTestDriver.create(bank, {
      definition: { name: 'bank-source', partitions: 3 },
    })
    const dep = { aggregateId: 'a', type: 'Deposit', payload: { amount: 5 }, commandId: 'dep-1' } as const
    await driver.pipe({ aggregateId: 'a', type: 'CreateAccount', payload: { owner: 'Ada' }, commandId: 'c1' })
    expect(await driver.pipe(dep)).toMatchObject({ status: 'accepted', version: 2 })
    // The same command again, its task crashing before it commits: no reply to this record (the earlier
    // send's 'accepted' is not its answer).
    driver.crashAt('before-commit', { aggregateId: 'a' })
    expect(await driver.pipe(dep)).toBeUndefined()
    await driver.restart()
    expect(driver.reply('dep-1')).toMatchObject({ status: 'duplicate', originalStatus: 'accepted' })
    expect(await driver.pipe(dep)).toMatchObject({ status: 'duplicate', originalStatus: 'accepted' })

    // Every committed reply names the command record it answers: that record carries its commandId.
    const p = driver.partitionOf('a')
    const commands = driver.log.read(driver.topology.topics.commands, p)
    const replies = driver.log.readAll(driver.topology.topics.replies)
    expect(replies).toHaveLength(4) // c1, then dep-1 three times: three records, three offsets
    expect(new Set(replies.map((r) => r.headers[HEADERS.sourceOffset]?.toString())).size).toBe(4)
    for (const r of replies) {
      expect(r.headers[HEADERS.sourcePartition]?.toString()).toBe(String(p))
      const source = commands.find((c) => c.offset === r.headers[HEADERS.sourceOffset]?.toString())
      expect(source?.value).toBeDefined()
      expect(source!.key?.toString()).toBe('a')
      expect(r.key?.toString()).toBe(
        (decode(source!.value!, source!.headers[HEADERS.contentType]?.toString()) as { commandId: string })
          .commandId,
      )
    }
  })

  const points: CrashPoint[] = ['before-send', 'before-send-offsets', 'before-commit', 'after-commit']
  for (const point of points) {
    it(`crash ${point}, restart: the state equals the committed changelog and the fold of the events`, async () => {
      const driver = await TopologyTestDriver.create(bank, {
        definition: { name: 'bank-crash', partitions: 2 },
      })
      const ids = ['acc-1', 'acc-2', 'acc-3', 'acc-4']
      for (const id of ids)
        await driver.pipe({
          aggregateId: id,
          type: 'CreateAccount',
          payload: { owner: id },
          commandId: `create-${id}`,
        })
      driver.crashAt(point, { aggregateId: 'acc-1' })
      const p = driver.partitionOf('acc-1')
      const reply = await driver.pipe({
        aggregateId: 'acc-1',
        type: 'Deposit',
        payload: { amount: 50 },
        commandId: 'dep-1',
      })
      expect(driver.crashedPartitions()).toEqual([p])
      // Committed before the crash only when it hit after the commit.
      expect(reply?.status).toBe(point === 'after-commit' ? 'accepted' : undefined)
      // The other partition goes on while this one is down (its reply may stay invisible to read_committed
      // readers until the restart: the dead task's open transaction holds the replies partition's LSO, as in Kafka).
      const other = ids.find((id) => driver.partitionOf(id) !== p)!
      driver.send({ aggregateId: other, type: 'Deposit', payload: { amount: 1 }, commandId: 'other' })
      await driver.process()
      expect((await driver.snapshot(other))?.version).toBe(2)

      await driver.restart()
      expect(driver.crashedPartitions()).toEqual([])
      // After a crash after the commit, the store was behind: the restore replayed the changelog tail.
      if (point === 'after-commit') expect(driver.restoredRecords(p)).toBeGreaterThan(0)
      expect(
        driver
          .replies()
          .filter((r) => r.commandId === 'dep-1')
          .map((r) => r.status),
      ).toEqual(['accepted'])
      expect(driver.reply('other')?.status).toBe('accepted')
      expect(driver.events('acc-1').map((e) => e.version)).toEqual([1, 2])

      const store = await driver.storeSnapshots()
      const changelog = driver.changelogSnapshots()
      expect(store).toEqual(changelog)
      for (const id of ids) expect(store.get(id)?.state).toEqual(driver.foldedState(id))
      expect(await driver.state('acc-1')).toEqual({ status: 'open', owner: 'acc-1', balance: 50 })

      // A clean restart then replays nothing and re-processes nothing.
      await driver.restart({ partitions: [p] })
      expect(driver.restoredRecords(p)).toBe(0)
      expect(driver.replies()).toHaveLength(6)
      // And a restart on an empty disk restores everything from the changelog.
      await driver.restart({ partitions: [p], loseLocalState: true })
      expect(await driver.storeSnapshots(p)).toEqual(driver.changelogSnapshots(p))
    })
  }
})
