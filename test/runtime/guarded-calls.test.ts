/**
 * Hardening, class 2: whatever throws while one command is processed — the decider's code outside decide/evolve
 * (payload schemas, initialState), encoding its outputs, a timestamp Date cannot hold, a thrown value that is
 * not an Error — fails that command alone (one reply, one dead letter, a specific code) and the partition goes
 * on. Through the TopologyTestDriver: the real task manager and task.
 */
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { CONTENT_TYPES, encode, type Serialization } from '../../src/domain/codec.ts'
import { defineDecider, type AnyDecider } from '../../src/domain/decider.ts'
import { HEADERS } from '../../src/domain/envelopes.ts'
import { DecideFailedError } from '../../src/errors.ts'
import { CommandProcessor } from '../../src/runtime/processor.ts'
import { TopologyTestDriver } from '../../src/testing/driver.ts'
import { commandRecord } from '../../src/testing/records.ts'
import { topicNames } from '../../src/topology/schema.ts'

const flags = { initialStateThrows: false }

const guarded = defineDecider({
  initialState: () => {
    if (flags.initialStateThrows) throw new Error('no initial state today')
    return { n: 0 }
  },
  commands: {
    Inc: z.object({}),
    Refined: z.object({ x: z.number() }).refine(() => {
      throw new Error('refine exploded')
    }),
    Transformed: z.object({ json: z.string() }).transform((v) => JSON.parse(v.json) as unknown),
    Preprocessed: z.preprocess(() => {
      throw 42
    }, z.object({})),
    EmitBigint: z.object({}),
    EmitCycle: z.object({}),
    Throw: z.object({ what: z.enum(['null', 'number', 'nullproto', 'symbol-message']) }),
  },
  events: { Incremented: z.object({ by: z.unknown() }) },
  decide(c) {
    switch (c.type) {
      case 'EmitBigint':
        return { type: 'Incremented', payload: { by: 1n } }
      case 'EmitCycle': {
        const by: Record<string, unknown> = {}
        by.self = by
        return { type: 'Incremented', payload: { by } }
      }
      case 'Throw': {
        const what = c.payload.what
        if (what === 'null') throw null
        if (what === 'number') throw 42
        if (what === 'nullproto') throw Object.create(null) // String() of it throws
        const e = new Error('x')
        Object.defineProperty(e, 'message', { get: () => Symbol('not a string') })
        throw e
      }
      default:
        return { type: 'Incremented', payload: { by: 1 } }
    }
  },
  evolve: (s) => ({ n: s.n + 1 }),
})

type Driver = TopologyTestDriver<{ n: number }>

async function driverFor(serialization: Serialization = 'msgpack'): Promise<Driver> {
  flags.initialStateThrows = false
  return (await TopologyTestDriver.create(guarded, {
    definition: { name: `guarded-${serialization}`, serialization },
  })) as unknown as Driver
}

/** Exactly one reply (status, code) and one dead letter (code) so far; then a valid command is accepted. */
async function expectFailedAloneThenGoesOn(
  driver: Driver,
  commandId: string,
  status: 'failed' | 'invalid',
  code: string,
): Promise<void> {
  const replies = driver.replies()
  expect(replies).toHaveLength(1)
  expect(replies[0]).toMatchObject({ commandId, status, error: { code } })
  expect(typeof replies[0]!.error!.message).toBe('string')
  const dlq = driver.deadLetters()
  expect(dlq.map((d) => d.errorCode)).toEqual([code])
  expect(dlq[0]!.errorMessage).toBe(replies[0]!.error!.message)
  flags.initialStateThrows = false
  const next = await driver.pipe({ aggregateId: 'a', type: 'Inc', payload: {}, commandId: 'after' })
  expect(next).toMatchObject({ status: 'accepted', version: 1 })
  expect(driver.replies()).toHaveLength(2)
  expect(driver.deadLetters()).toHaveLength(1)
  await driver.close()
}

describe('exceptions outside decide/evolve fail their command alone', () => {
  it('a payload schema whose refine throws -> invalid (schema_threw)', async () => {
    const driver = await driverFor()
    await driver.pipe({ aggregateId: 'a', type: 'Refined', payload: { x: 1 }, commandId: 'c1' })
    expect(driver.reply('c1')!.error!.message).toMatch(/Refined.*refine exploded/)
    await expectFailedAloneThenGoesOn(driver, 'c1', 'invalid', 'schema_threw')
  })

  it('a payload schema whose transform throws -> invalid (schema_threw)', async () => {
    const driver = await driverFor()
    await driver.pipe({ aggregateId: 'a', type: 'Transformed', payload: { json: '{nope' }, commandId: 'c1' })
    expect(driver.reply('c1')!.error!.message).toMatch(/SyntaxError/)
    await expectFailedAloneThenGoesOn(driver, 'c1', 'invalid', 'schema_threw')
  })

  it('a payload schema whose preprocess throws a non-Error -> invalid (schema_threw)', async () => {
    const driver = await driverFor()
    await driver.pipe({ aggregateId: 'a', type: 'Preprocessed', payload: {}, commandId: 'c1' })
    expect(driver.reply('c1')!.error!.message).toMatch(/42/)
    await expectFailedAloneThenGoesOn(driver, 'c1', 'invalid', 'schema_threw')
  })

  it('initialState() throwing -> failed (initial_state_threw)', async () => {
    const driver = await driverFor()
    flags.initialStateThrows = true
    await driver.pipe({ aggregateId: 'a', type: 'Inc', payload: {}, commandId: 'c1' })
    expect(driver.reply('c1')!.error!.message).toMatch(/initialState.*no initial state today/)
    await expectFailedAloneThenGoesOn(driver, 'c1', 'failed', 'initial_state_threw')
  })

  it('an event payload holding a bigint under serialization json -> failed (event_not_plain)', async () => {
    const driver = await driverFor('json')
    await driver.pipe({ aggregateId: 'a', type: 'EmitBigint', payload: {}, commandId: 'c1' })
    expect(driver.reply('c1')!.error!.message).toMatch(/events\[0\]\.payload\.by is a bigint/)
    await expectFailedAloneThenGoesOn(driver, 'c1', 'failed', 'event_not_plain')
  })

  it('a cyclic event payload -> failed (event_not_plain), under msgpack and json', async () => {
    for (const s of ['msgpack', 'json'] as const) {
      const driver = await driverFor(s)
      await driver.pipe({ aggregateId: 'a', type: 'EmitCycle', payload: {}, commandId: 'c1' })
      expect(driver.reply('c1')!.error!.message).toMatch(/events\[0\]\.payload\.by\.self .*cycle/)
      await expectFailedAloneThenGoesOn(driver, 'c1', 'failed', 'event_not_plain')
    }
  })

  it('a record timestamp Date cannot hold -> invalid (invalid_timestamp)', async () => {
    const driver = await driverFor()
    const envelope = { commandId: 'c1', type: 'Inc', payload: {} }
    driver.log.produce(driver.topology.topics.commands, {
      partition: 0,
      key: 'a',
      value: encode(envelope, 'msgpack'),
      headers: { [HEADERS.contentType]: CONTENT_TYPES.msgpack },
      timestamp: '99999999999999999',
    })
    await driver.process()
    expect(driver.reply('c1')!.error!.message).toMatch(/timestamp 99999999999999999/)
    await expectFailedAloneThenGoesOn(driver, 'c1', 'invalid', 'invalid_timestamp')
  })

  it('metadata.issuedAt out of range -> invalid (invalid_timestamp), not a silent fallback', async () => {
    const driver = await driverFor()
    await driver.pipe({
      aggregateId: 'a',
      type: 'Inc',
      payload: {},
      commandId: 'c1',
      metadata: { issuedAt: 1e17 },
    })
    expect(driver.reply('c1')!.error!.message).toMatch(/issuedAt/)
    await expectFailedAloneThenGoesOn(driver, 'c1', 'invalid', 'invalid_timestamp')
  })

  for (const what of ['null', 'number', 'nullproto', 'symbol-message'] as const) {
    it(`decide throwing a non-Error (${what}) -> failed (decide_threw)`, async () => {
      const driver = await driverFor()
      await driver.pipe({ aggregateId: 'a', type: 'Throw', payload: { what }, commandId: 'c1' })
      await expectFailedAloneThenGoesOn(driver, 'c1', 'failed', 'decide_threw')
    })
  }
})

describe("errors.onDecideError 'stop' covers every 'failed' outcome, never an 'invalid' one", () => {
  const topics = topicNames({ name: 'g', topics: {} })
  const processor = () =>
    new CommandProcessor({
      decider: guarded as unknown as AnyDecider,
      topics,
      topologyName: 'g',
      serialization: 'json',
      dedupeWindow: 32,
      onDecideError: 'stop',
      maxRecordBytes: 1_000_000,
      now: () => 0,
      routing: { partitions: 1, partitionOf: () => 0 },
    })
  const run = (type: string, payload: unknown, o: { timestamp?: number } = {}) => {
    const p = processor()
    const { decoded } = p.decodeBatch([
      commandRecord({ aggregateId: 'a', commandId: 'c', type, payload }, 0, o),
    ])
    return p.processDecoded(decoded, new Map([['a', undefined]]))
  }

  it('initialState throwing, an event that is not plain data, a thrown non-Error: stop', () => {
    flags.initialStateThrows = true
    expect(() => run('Inc', {})).toThrow(DecideFailedError)
    flags.initialStateThrows = false
    expect(() => run('EmitBigint', {})).toThrow(/event_not_plain|bigint/)
    expect(() => run('Throw', { what: 'nullproto' })).toThrow(DecideFailedError)
  })

  it('a schema that throws, a timestamp out of range: invalid, the batch goes on', () => {
    expect(run('Refined', { x: 1 }).outcomes.byStatus.invalid).toBe(1)
    expect(run('Inc', {}, { timestamp: 1e17 }).outcomes.byStatus.invalid).toBe(1)
  })
})
