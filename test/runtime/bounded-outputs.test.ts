/**
 * Hardening, class 4: every record a task writes is at most processing.maxRecordBytes, so the broker never refuses
 * one (which aborts the transaction and retries it for ever). A dead letter of a large record keeps a prefix of it
 * (kd-original-truncated), error messages and echoes are capped, and an event, snapshot or reply that would be too
 * large fails its command (record_too_large).
 */
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineDecider, reject } from '../../src/domain/decider.ts'
import { HEADERS } from '../../src/domain/envelopes.ts'
import { BatchOutputs, recordBytes } from '../../src/runtime/batch-outputs.ts'
import { rawRecord } from '../../src/testing/records.ts'
import { topicNames } from '../../src/topology/schema.ts'
import { TopologyTestDriver } from '../../src/testing/driver.ts'
import type { StoredRecord } from '../../src/testing/memory-log.ts'

const MAX = 2048

const echo = defineDecider({
  initialState: () => ({ n: 0 }),
  commands: {
    Inc: z.object({}),
    Scores: z.object({ scores: z.record(z.string(), z.number()) }).strict(),
    Refuse: z.object({ size: z.number() }),
    Explode: z.object({ size: z.number() }),
  },
  events: { Incremented: z.object({}) },
  decide(c) {
    if (c.type === 'Refuse') return reject('c'.repeat(c.payload.size), 'm'.repeat(c.payload.size))
    if (c.type === 'Explode') throw new Error('e'.repeat(c.payload.size))
    return { type: 'Incremented', payload: {} }
  },
  evolve: (s) => ({ n: s.n + 1 }),
})

async function driver(serialization: 'msgpack' | 'json' = 'msgpack') {
  return TopologyTestDriver.create(echo, {
    definition: { name: `bounded-${serialization}`, serialization, processing: { maxRecordBytes: MAX } },
  })
}

type Driver = Awaited<ReturnType<typeof driver>>

/** Every record of every output topic, aborted ones included: what the task tried to write. */
function outputs(d: Driver): (StoredRecord & { topic: string })[] {
  const t = d.topology.topics
  return [t.events, t.replies, t.changelog, t.deadLetters].flatMap((topic) =>
    d.log.readAll(topic, 'read_uncommitted').map((r) => ({ ...r, topic })),
  )
}

function expectAllBounded(d: Driver): void {
  const over = outputs(d)
    .map((r) => ({ topic: r.topic, bytes: recordBytes(r) }))
    .filter((r) => r.bytes > MAX)
  expect(over).toEqual([])
}

async function expectGoesOn(d: Driver, aggregateId = 'ok'): Promise<void> {
  const reply = await d.pipe({ aggregateId, type: 'Inc', payload: {}, commandId: `after-${aggregateId}` })
  expect(reply).toMatchObject({ status: 'accepted' })
  expectAllBounded(d)
}

const deadLetterRecords = (d: Driver) => d.log.readAll(d.topology.topics.deadLetters)
const header = (r: StoredRecord, k: string) => r.headers[k]?.toString()

describe(`every output within processing.maxRecordBytes (${MAX})`, () => {
  it('10 KB of garbage -> dead-lettered with a prefix of it and kd-original-truncated; the partition goes on', async () => {
    const d = await driver()
    const garbage = Buffer.alloc(10_240, 0xc1) // 0xc1 is never valid msgpack
    d.sendRaw('acc-1', garbage)
    await d.process()
    const [dl, ...more] = deadLetterRecords(d)
    expect(more).toEqual([])
    expect(header(dl!, HEADERS.errorCode)).toBe('undecodable')
    expect(header(dl!, HEADERS.originalTruncated)).toBe('10240')
    expect(dl!.value!.length).toBeGreaterThan(1000)
    expect(garbage.subarray(0, dl!.value!.length).equals(dl!.value!)).toBe(true)
    expectAllBounded(d)
    await expectGoesOn(d, 'acc-1')
  })

  it('a record with large headers: they are left out (kd-original-headers-dropped) and counted', async () => {
    const d = await driver()
    const headers = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`h${i}`, 'v'.repeat(400)]))
    d.sendRaw('acc-1', Buffer.from('{nope'), headers)
    await d.process()
    const [dl] = deadLetterRecords(d)
    expect(header(dl!, HEADERS.originalHeadersDropped)).toBe('8')
    expect(header(dl!, HEADERS.errorCode)).toBe('undecodable')
    await expectGoesOn(d)
  })

  it('a key above the limit: refused (invalid_key: keys are at most 256 bytes); the reply echo and the dead letter key are cut', async () => {
    const d = await driver()
    const key = 'k'.repeat(5000)
    d.sendRaw(key, JSON.stringify({ commandId: 'big-key', type: 'Inc', payload: {} }), {
      'content-type': 'application/json',
    })
    await d.process()
    expect(d.reply('big-key')).toMatchObject({ status: 'invalid', error: { code: 'invalid_key' } })
    expect(d.reply('big-key')!.aggregateId.length).toBeLessThan(300)
    const [dl] = deadLetterRecords(d)
    expect(header(dl!, HEADERS.originalKeyTruncated)).toBe('5000')
    expect(dl!.value!.length).toBe(0)
    await expectGoesOn(d)
  })

  it('an invalid reply echoing its input (a huge key in a zod issue) is capped', async () => {
    for (const s of ['msgpack', 'json'] as const) {
      const d = await driver(s)
      const scores = { ['x'.repeat(20_000)]: 'not a number' }
      await d.pipe({ aggregateId: 'a', type: 'Scores', payload: { scores }, commandId: 'c1' })
      expect(d.reply('c1')).toMatchObject({ status: 'invalid', error: { code: 'invalid_payload' } })
      expect(deadLetterRecords(d)).toHaveLength(1)
      await expectGoesOn(d)
    }
  })

  it('a rejection with a huge code and message is capped, stored and replied within the limit', async () => {
    const d = await driver()
    const reply = await d.pipe({
      aggregateId: 'a',
      type: 'Refuse',
      payload: { size: 1_000_000 },
      commandId: 'c1',
    })
    expect(reply).toMatchObject({ status: 'rejected' })
    expect(reply!.error!.code.length).toBeLessThanOrEqual(201)
    expect(reply!.error!.message.length).toBeLessThanOrEqual(1001)
    expect((await d.snapshot('a'))!.recent[0]!.error).toEqual(reply!.error)
    await expectGoesOn(d, 'a')
  })

  it('decide throwing an Error with a 1 MB message: failed, reply and dead letter within the limit', async () => {
    const d = await driver('json')
    const reply = await d.pipe({
      aggregateId: 'a',
      type: 'Explode',
      payload: { size: 1_000_000 },
      commandId: 'c1',
    })
    expect(reply).toMatchObject({ status: 'failed', error: { code: 'decide_threw' } })
    expect(deadLetterRecords(d)).toHaveLength(1)
    await expectGoesOn(d, 'a')
  })
})

describe('reply records: their source headers count against maxRecordBytes', () => {
  it('a reply is built only when it fits with its content type, kd-source-partition and kd-source-offset', () => {
    const out = new BatchOutputs({
      topics: topicNames({ name: 't', topics: {} }),
      topologyName: 't',
      serialization: 'msgpack',
      maxRecordBytes: MAX,
    })
    const source = rawRecord('a', null, 123_456_789_012n, {}, 17)
    const sizes: number[] = []
    for (let n = 1500; n <= 2100; n++) {
      const r = out.replyRecord(
        {
          commandId: 'c1',
          aggregateId: 'a',
          status: 'rejected',
          version: 0,
          events: [],
          error: { code: 'x', message: 'm'.repeat(n) },
        },
        source,
        false,
      )
      if (r === undefined) continue
      expect(r.headers).toMatchObject({
        [HEADERS.sourcePartition]: '17',
        [HEADERS.sourceOffset]: '123456789012',
      })
      sizes.push(recordBytes(r))
    }
    // The largest reply built is exactly at the limit: its headers are counted, none above it is built.
    expect(Math.max(...sizes)).toBe(MAX)
  })
})
