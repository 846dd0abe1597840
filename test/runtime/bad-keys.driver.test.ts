/**
 * Keys a command may not have, and commands on the wrong partition, through the TopologyTestDriver (the real task
 * over in-memory Kafka): each gets an `invalid` reply with its own code and a dead letter, the partition goes on,
 * and a restart from the changelog alone works.
 */
import { describe, expect, it } from 'vitest'
import { encode } from '../../src/domain/codec.ts'
import { HEADERS, MAX_AGGREGATE_ID_BYTES, OFFSET_MARKER_KEY } from '../../src/domain/envelopes.ts'
import { TopologyTestDriver } from '../../src/testing/index.ts'
import bank from '../../topologies/bank-account.ts'

const create = (commandId: string) =>
  encode({ commandId, type: 'CreateAccount', payload: { owner: 'Ada' } }, 'msgpack')

async function bankDriver(partitions = 3) {
  return TopologyTestDriver.create(bank, { definition: { name: 'bank-keys', partitions } })
}

/** An aggregate id that lands on partition `p`. */
function idOn(driver: { partitionOf(id: string): number }, p: number): string {
  for (let i = 0; i < 1000; i++) if (driver.partitionOf(`acc-${i}`) === p) return `acc-${i}`
  throw new Error(`no id on partition ${p}`)
}

describe('reserved keys (the changelog key space of internal records)', () => {
  it('a command keyed with the offset-marker key is invalid (reserved_key); its partition goes on and restores', async () => {
    const driver = await bankDriver()
    const p = driver.partitionOf(OFFSET_MARKER_KEY)
    const neighbour = idOn(driver, p)
    await driver.pipe({ aggregateId: neighbour, type: 'CreateAccount', payload: { owner: 'Bo' } })

    driver.sendRaw(OFFSET_MARKER_KEY, create('poison'))
    driver.sendRaw('\u0000kafka-decider/anything-else', create('poison-2'))
    await driver.process()
    expect(driver.reply('poison')).toMatchObject({
      status: 'invalid',
      aggregateId: OFFSET_MARKER_KEY,
      error: { code: 'reserved_key' },
    })
    expect(driver.reply('poison')!.error!.message).toMatch(/reserved/)
    expect(driver.reply('poison-2')).toMatchObject({ status: 'invalid', error: { code: 'reserved_key' } })
    expect(driver.deadLetters().map((d) => d.errorCode)).toEqual(['reserved_key', 'reserved_key'])
    expect([...driver.changelogSnapshots().keys()]).toEqual([neighbour])

    // Other commands of that partition go on.
    const reply = await driver.pipe({ aggregateId: neighbour, type: 'Deposit', payload: { amount: 7 } })
    expect(reply).toMatchObject({ status: 'accepted', version: 2 })

    // A new machine restores the partition from the changelog alone.
    await driver.restart({ partitions: [p], loseLocalState: true })
    expect(driver.restoredRecords(p)).toBeGreaterThan(0)
    expect(await driver.state(neighbour)).toEqual({ status: 'open', owner: 'Bo', balance: 7 })
    expect(await driver.storeSnapshots(p)).toEqual(driver.changelogSnapshots(p))
    await driver.close()
  })

  it('restore skips records of the reserved key space that are not offset markers (written before keys were checked)', async () => {
    const driver = await bankDriver(1)
    await driver.pipe({ aggregateId: 'acc-1', type: 'CreateAccount', payload: { owner: 'Ada' } })
    // What an older worker wrote for a command keyed with the marker key: a snapshot under the marker key.
    const snapshot = { aggregateId: OFFSET_MARKER_KEY, version: 1, state: {}, recent: [], sourceOffset: '1' }
    const changelog = driver.topology.topics.changelog
    driver.log.produce(changelog, {
      partition: 0,
      key: OFFSET_MARKER_KEY,
      value: encode(snapshot, 'msgpack'),
    })
    driver.log.produce(changelog, { partition: 0, key: '\u0000someone-else', value: Buffer.from('x') })
    await driver.pipe({ aggregateId: 'acc-1', type: 'Deposit', payload: { amount: 3 } })

    await driver.restart({ partitions: [0], loseLocalState: true })
    expect(await driver.state('acc-1')).toEqual({ status: 'open', owner: 'Ada', balance: 3 })
    expect([...(await driver.storeSnapshots(0)).keys()]).toEqual(['acc-1'])
    // And it resumed after the last committed input: nothing processed twice.
    expect(driver.replies()).toHaveLength(2)
    await driver.close()
  })
})

describe('keys that are not an aggregate id', () => {
  it('a key that is not valid UTF-8 is invalid (invalid_key), not a lossy different id', async () => {
    const driver = await bankDriver()
    const bad = [
      Buffer.from([0x61, 0xff, 0x62]), // 0xff never occurs in UTF-8
      Buffer.from([0x61, 0xed, 0xa0, 0x80]), // an encoded surrogate (CESU-8)
      Buffer.from([0xc0, 0xaf]), // an overlong '/'
    ]
    bad.forEach((key, i) => driver.sendRaw(key, create(`bad-${i}`)))
    await driver.process()
    for (let i = 0; i < bad.length; i++) {
      expect(driver.reply(`bad-${i}`)).toMatchObject({ status: 'invalid', error: { code: 'invalid_key' } })
      expect(driver.reply(`bad-${i}`)!.error!.message).toMatch(/not valid UTF-8/)
    }
    expect(driver.deadLetters().map((d) => d.errorCode)).toEqual(bad.map(() => 'invalid_key'))
    expect(driver.changelogSnapshots().size).toBe(0)
    expect(driver.events()).toHaveLength(0)
    await driver.close()
  })

  it(`a key above ${MAX_AGGREGATE_ID_BYTES} bytes is invalid (invalid_key) and says the limit`, async () => {
    const driver = await bankDriver()
    const atLimit = 'é'.repeat(MAX_AGGREGATE_ID_BYTES / 2) // 2 bytes each
    const above = `${atLimit}x`
    driver.sendRaw(atLimit, create('at-limit'))
    driver.sendRaw(above, create('above'))
    await driver.process()
    expect(driver.reply('at-limit')).toMatchObject({ status: 'accepted', aggregateId: atLimit })
    expect(driver.reply('above')).toMatchObject({ status: 'invalid', error: { code: 'invalid_key' } })
    expect(driver.reply('above')!.error!.message).toContain(
      `${MAX_AGGREGATE_ID_BYTES + 1} bytes; an aggregate id is at most ${MAX_AGGREGATE_ID_BYTES}`,
    )
    await driver.close()
  })
})

describe('misrouted commands (the key hashes to another partition)', () => {
  it('are invalid (misrouted), dead-lettered with the expected and actual partition; the right partition is untouched', async () => {
    const driver = await bankDriver()
    await driver.pipe({ aggregateId: 'acc-1', type: 'CreateAccount', payload: { owner: 'Ada' } })
    const home = driver.partitionOf('acc-1')
    const wrong = (home + 1) % 3

    // Another producer's partitioner (e.g. librdkafka's consistent_random) put it elsewhere.
    driver.sendRaw('acc-1', create('elsewhere'), { [HEADERS.contentType]: 'application/msgpack' }, wrong)
    await driver.process()
    const reply = driver.reply('elsewhere')
    expect(reply).toMatchObject({ status: 'invalid', aggregateId: 'acc-1', error: { code: 'misrouted' } })
    expect(reply!.error!.message).toContain(`partition ${wrong}`)
    expect(reply!.error!.message).toContain(`partition ${home}`)
    const [dl] = driver.deadLetters()
    expect(dl).toMatchObject({ errorCode: 'misrouted', sourcePartition: wrong, key: 'acc-1' })
    expect(dl!.headers[HEADERS.expectedPartition]).toBe(String(home))
    expect(dl!.headers[HEADERS.sourcePartition]).toBe(String(wrong))
    expect(dl!.headers[HEADERS.contentType]).toBe('application/msgpack') // the original headers stay

    // No second snapshot of acc-1 on the wrong partition; the aggregate goes on where it lives.
    expect(driver.changelogSnapshots(wrong).has('acc-1')).toBe(false)
    expect(
      await driver.pipe({ aggregateId: 'acc-1', type: 'Deposit', payload: { amount: 1 } }),
    ).toMatchObject({ status: 'accepted', version: 2 })
    await driver.close()
  })

  it('the key checks come first: a missing key is missing_key, not misrouted', async () => {
    const driver = await bankDriver()
    driver.sendRaw(null, create('no-key'), {}, 2)
    await driver.process()
    expect(driver.reply('no-key')).toMatchObject({ status: 'invalid', error: { code: 'missing_key' } })
    await driver.close()
  })
})
