/**
 * The event reads without a broker: real Tasks over the in-memory ports behind the real HTTP server.
 * GET /aggregates/<t>/<id>/events (version order, ranges, pages; corrections linked both ways, as recorded and as
 * corrected, across pages; upcast to the topology's decider, raw as stored; the EventStoreClient's options) and
 * GET /events/<t> (commit order, tokens, partitions not served), and their 400s; the position token's round trip
 * and its refusals.
 */
import type { AddressInfo } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { EventStoreClient } from '../../src/client/event-store.ts'
import { decode } from '../../src/domain/codec.ts'
import type { AnyDecider } from '../../src/domain/decider.ts'
import type { EventEnvelope } from '../../src/domain/envelopes.ts'
import { decodePosition, encodePosition } from '../../src/domain/position.ts'
import { InvalidPositionError } from '../../src/errors.ts'
import { asOfQuery } from '../../src/http/as-of.ts'
import { eventQueries, type EventQueryableTask } from '../../src/http/events.ts'
import { startHttp } from '../../src/http/server.ts'
import { partitionOf } from '../../src/kafka/partitioner.ts'
import { createMetrics } from '../../src/metrics/metrics.ts'
import { Task } from '../../src/runtime/task.ts'
import { MemoryLog } from '../../src/testing/memory-log.ts'
import { memoryTaskPorts, silentLogger } from '../../src/testing/memory-ports.ts'
import { produceCommands, type CommandSpec } from '../../src/testing/records.ts'
import { fromDecider } from '../../src/topology/loader.ts'
import bank from '../../topologies/bank-account.ts'
import bankV2 from '../fixtures/bank-account-v2.ts'

const topology = fromDecider(bank as unknown as AnyDecider, { name: 'bank', partitions: 3 })
const log = new MemoryLog()
const tasks = new Map<number, EventQueryableTask>()

async function startTask(p: number): Promise<Task> {
  const ports = memoryTaskPorts({ topology, partition: p, log })
  const task = new Task({ topology, partition: p, ports, logger: silentLogger, partitioner: partitionOf })
  await task.initialize()
  tasks.set(p, task)
  return task
}

const ids = ['acc-1', 'acc-2', 'acc-3', 'acc-4', 'acc-5', 'acc-6']
const cmds: CommandSpec[] = [
  ...ids.map((id) => ({
    aggregateId: id,
    commandId: `c-${id}`,
    type: 'CreateAccount',
    payload: { owner: id },
  })),
  ...Array.from({ length: 30 }, (_, i) => ({
    aggregateId: ids[i % ids.length]!,
    commandId: `d-${i}`,
    type: 'Deposit',
    payload: { amount: i + 1 },
  })),
]
/** An account on a served partition whose deposits are corrected: @2 twice (by @5 and @8), @3 once (by @6). */
const fixId = ['fix-1', 'fix-2', 'fix-3', 'fix-4'].find((x) => partitionOf(x, 3) !== 2)!
const fix = (n: number, type: string, payload: object): CommandSpec => ({
  aggregateId: fixId,
  commandId: `fix-${n}`,
  type,
  payload,
})
cmds.push(
  fix(1, 'CreateAccount', { owner: 'Ada' }),
  fix(2, 'Deposit', { amount: 100 }),
  fix(3, 'Deposit', { amount: 50 }),
  fix(4, 'Deposit', { amount: 7 }),
  fix(5, 'CorrectDeposit', { eventId: `${fixId}@2`, difference: -10, reason: 'the slip says 90' }),
  fix(6, 'CorrectDeposit', { eventId: `${fixId}@3`, difference: 5, reason: 'the slip says 55' }),
  fix(7, 'Deposit', { amount: 1 }),
  fix(8, 'CorrectDeposit', { eventId: `${fixId}@2`, difference: -1, reason: 'a second look: 89' }),
)
const marks = {
  [`${fixId}@2`]: [
    { eventId: `${fixId}@5`, reason: 'the slip says 90' },
    { eventId: `${fixId}@8`, reason: 'a second look: 89' },
  ],
  [`${fixId}@3`]: [{ eventId: `${fixId}@6`, reason: 'the slip says 55' }],
}

/** The committed events topic of partition p, as [offset, event]. */
const topicEvents = (p: number): [string, EventEnvelope][] =>
  log
    .readAll(topology.topics.events)
    .filter((r) => r.partition === p)
    .map((r) => [r.offset, decode(r.value!) as EventEnvelope])

describe('event reads over HTTP', async () => {
  // Partitions 0 and 1 run here; 2 does not.
  for (const p of [0, 1]) await startTask(p)
  for (const c of cmds) produceCommands(log, topology.topics.commands, partitionOf(c.aggregateId!, 3), [c])
  for (const [p, task] of tasks) {
    const records = log.inputRecords(topology.topics.commands, p, 0n)
    if (records.length > 0) expect((await (task as Task).process(records, () => undefined)).kind).toBe('done')
  }
  const server = await startHttp({
    host: '127.0.0.1',
    port: 0,
    registry: createMetrics().registry,
    readiness: () => ({ ready: true }),
    events: eventQueries([topology], () => [{ name: 'bank', tasks }]),
    asOf: asOfQuery([topology], () => [{ name: 'bank', tasks }]),
  })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  afterAll(() => new Promise<void>((r) => server.close(() => r())))
  const get = async (path: string) => {
    const r = await fetch(`${base}${path}`)
    return { status: r.status, body: (await r.json()) as Record<string, unknown> }
  }
  const served = ids.filter((id) => partitionOf(id, 3) !== 2)
  const notServed = ids.find((id) => partitionOf(id, 3) === 2)

  it("an aggregate's events: version order, equal to the events topic; ranges; pages", async () => {
    expect(served.length).toBeGreaterThan(0)
    for (const id of served) {
      const p = partitionOf(id, 3)
      const r = await get(`/aggregates/bank/${id}/events`)
      expect(r.status).toBe(200)
      const expected = topicEvents(p).filter(([, e]) => e.aggregateId === id)
      expect(r.body).toEqual({
        partition: p,
        aggregateId: id,
        events: expected.map(([offset, event]) => ({ offset, event })),
      })
    }
    const id = served[0]!
    const range = await get(`/aggregates/bank/${id}/events?fromVersion=2&toVersion=4`)
    expect((range.body.events as { event: EventEnvelope }[]).map((e) => e.event.version)).toEqual([2, 3, 4])
    const page = await get(`/aggregates/bank/${id}/events?limit=2`)
    expect((page.body.events as unknown[]).length).toBe(2)
    expect(page.body.nextFromVersion).toBe(3)
    // an aggregate without events on a served partition: 200, none
    const nobody = ['nobody-1', 'nobody-2', 'nobody-3', 'nobody-4'].find((x) => partitionOf(x, 3) !== 2)!
    const none = await get(`/aggregates/bank/${nobody}/events`)
    expect(none).toEqual({
      status: 200,
      body: { partition: partitionOf(nobody, 3), aggregateId: nobody, events: [] },
    })
  })

  it('state as of a time: the fold of the committed events within the bounds (all of them = the snapshot)', async () => {
    const id = served[0]!
    const snapshot = await tasks.get(partitionOf(id, 3))!.committedSnapshot(id)
    const now = await get(`/aggregates/bank/${id}/state`)
    expect(now.status).toBe(200)
    expect(now.body).toMatchObject({
      aggregateId: id,
      version: snapshot!.version,
      state: snapshot!.state,
      asOf: {},
    })
    expect(now.body.included).toBe(snapshot!.version)
    const before = await get(`/aggregates/bank/${id}/state?recordedAsOf=2000-01-01T00:00:00Z`)
    expect(before.body).toMatchObject({ version: 0, included: 0, state: bank.initialState() })
    const business = await get(`/aggregates/bank/${id}/state?eventTimeAsOf=2000-01-01T00:00:00Z`)
    expect(business.body).toMatchObject({ version: 0, included: 0 })
    const bad = await get(`/aggregates/bank/${id}/state?eventTimeAsOf=yesterday`)
    expect(bad).toMatchObject({ status: 400, body: { code: 'bad_request' } })
    expect(String(bad.body.error)).toMatch(/eventTimeAsOf must be an ISO-8601 time/)
    if (notServed !== undefined)
      expect((await get(`/aggregates/bank/${notServed}/state`)).body.code).toBe('not_assigned')
  })

  it('corrections: each corrected event names its corrections (recorded), or is left out (corrected)', async () => {
    const stored = topicEvents(partitionOf(fixId, 3)).filter(([, e]) => e.aggregateId === fixId)
    expect(stored.map(([, e]) => e.type)).toEqual([
      'AccountCreated',
      ...['MoneyDeposited', 'MoneyDeposited', 'MoneyDeposited', 'DepositCorrected'],
      ...['DepositCorrected', 'MoneyDeposited', 'DepositCorrected'],
    ])
    const recorded = await get(`/aggregates/bank/${fixId}/events`)
    expect(recorded.status).toBe(200)
    expect(recorded.body.events).toEqual(
      stored.map(([offset, event]) => {
        const correctedBy = marks[event.eventId]
        return { offset, event: correctedBy === undefined ? event : { ...event, correctedBy } }
      }),
    )
    expect((recorded.body.events as { event: EventEnvelope }[])[4]!.event).toMatchObject({
      corrects: [`${fixId}@2`],
      correctionReason: 'the slip says 90',
    })
    expect(await get(`/aggregates/bank/${fixId}/events?history=recorded`)).toEqual(recorded)
    const versions = (r: { body: Record<string, unknown> }) =>
      (r.body.events as { event: EventEnvelope }[]).map((e) => e.event.version)
    const corrected = await get(`/aggregates/bank/${fixId}/events?history=corrected`)
    expect(versions(corrected)).toEqual([1, 4, 5, 6, 7, 8])
    // A page, or a range, that ends before the corrections still shows them (the later events are read for them).
    const page = await get(`/aggregates/bank/${fixId}/events?limit=3`)
    expect(page.body.nextFromVersion).toBe(4)
    expect(
      (page.body.events as { event: { correctedBy?: unknown } }[]).map((e) => e.event.correctedBy),
    ).toEqual([undefined, marks[`${fixId}@2`], marks[`${fixId}@3`]])
    const range = await get(`/aggregates/bank/${fixId}/events?fromVersion=3&toVersion=3&history=corrected`)
    expect(range.body).toEqual({ partition: partitionOf(fixId, 3), aggregateId: fixId, events: [] })
    const pages: number[] = []
    for (let from = 1, n = 0; n < 10; n++) {
      const r = await get(`/aggregates/bank/${fixId}/events?history=corrected&limit=2&fromVersion=${from}`)
      pages.push(...versions(r))
      if (r.body.nextFromVersion === undefined) break
      from = r.body.nextFromVersion as number
    }
    expect(pages).toEqual([1, 4, 5, 6, 7, 8])
    // raw: as stored, no marks; the parameters are checked.
    const raw = await get(`/aggregates/bank/${fixId}/events?raw=true`)
    expect(raw.body.events).toEqual(stored.map(([offset, event]) => ({ offset, event })))
    for (const bad of ['history=all', 'raw=yes', 'raw=true&history=corrected'])
      expect(await get(`/aggregates/bank/${fixId}/events?${bad}`), bad).toMatchObject({
        status: 400,
        body: { code: 'bad_request' },
      })
    // The EventStoreClient: the same options, through the pages.
    const client = new EventStoreClient({ url: base })
    const all = await client.events('bank', fixId, { history: 'corrected' })
    expect(all.map((e) => e.event.version)).toEqual([1, 4, 5, 6, 7, 8])
    const marked = await client.events('bank', fixId, { fromVersion: 2, toVersion: 3 })
    expect(marked.map((e) => e.event.correctedBy)).toEqual([marks[`${fixId}@2`], marks[`${fixId}@3`]])
    expect((await client.events('bank', fixId, { raw: true })).map((e) => e.event)).toEqual(
      stored.map(([, e]) => e),
    )
  })

  it("events upcast to the topology's decider (v2 over v1 events), as stored with raw=true", async () => {
    const v2 = fromDecider(bankV2, { name: 'bank', partitions: 3 })
    const reads = eventQueries([v2], () => [{ name: 'bank', tasks }])
    const r = await reads.aggregateEvents('bank', fixId, new URLSearchParams())
    const events = (r.body as { events: { event: EventEnvelope & { correctedBy?: unknown } }[] }).events
    expect(events[1]!.event).toMatchObject({
      type: 'MoneyDeposited',
      schemaVersion: 2,
      payload: { amount: 100, balance: 100, currency: 'EUR' },
      correctedBy: marks[`${fixId}@2`],
    })
    const raw = await reads.aggregateEvents('bank', fixId, new URLSearchParams({ raw: 'true' }))
    expect((raw.body as typeof r.body & { events: { event: unknown }[] }).events[1]!.event).toMatchObject({
      schemaVersion: 1,
      payload: { amount: 100, balance: 100 },
    })
  })

  it('errors: bad parameters 400, a partition not run here 404 not_assigned, an unknown topology 404', async () => {
    expect((await get('/aggregates/bank/acc-1/events?fromVersion=-1')).status).toBe(400)
    expect((await get('/aggregates/bank/acc-1/events?limit=x')).body.code).toBe('bad_request')
    expect((await get('/events/bank?from=nonsense')).status).toBe(400)
    expect((await get('/events/bank?limit=1.5')).status).toBe(400)
    if (notServed !== undefined)
      expect((await get(`/aggregates/bank/${notServed}/events`)).body.code).toBe('not_assigned')
    expect((await get('/aggregates/other/acc-1/events')).body.code).toBe('unknown_topology')
    expect((await get('/aggregates/bank//events')).status).toBe(400)
  })

  it('every event of the served partitions in commit order, in pages, resumable from the token', async () => {
    const seen: { partition: number; offset: string }[] = []
    let token: string | undefined
    let pages = 0
    for (; pages < 50; pages++) {
      const r = await get(`/events/bank?limit=5${token ? `&from=${token}` : ''}`)
      expect(r.status).toBe(200)
      expect(r.body.partitions).toEqual([0, 1])
      expect(r.body.notServed).toEqual([{ partition: 2, reason: 'not_assigned' }])
      const events = r.body.events as { partition: number; offset: string }[]
      seen.push(...events.map((e) => ({ partition: e.partition, offset: e.offset })))
      token = r.body.next as string
      if (events.length < 5) break
    }
    expect(pages).toBeGreaterThan(2)
    const expected = [0, 1].flatMap((p) => topicEvents(p).map(([offset]) => ({ partition: p, offset })))
    expect(seen).toEqual(expected)
    // at the end: an empty page, the same token
    const end = await get(`/events/bank?from=${token}`)
    expect(end.body.events).toEqual([])
    expect(end.body.next).toBe(token)
  })
})

describe('position token', () => {
  it('round-trips and is opaque text safe in a URL', () => {
    const p = new Map([
      [2, 10n],
      [0, 12345678901234n],
    ])
    const token = encodePosition(p)
    expect(token).toMatch(/^p1\.[A-Za-z0-9_-]+$/)
    expect(decodePosition(token)).toEqual(new Map([...p].sort()))
    expect(decodePosition(undefined)).toEqual(new Map())
  })

  it('refuses what a read did not hand out', () => {
    for (const bad of [
      'x',
      'p1.!!',
      `p1.${Buffer.from('[1]').toString('base64url')}`,
      `p1.${Buffer.from('{"a":"1"}').toString('base64url')}`,
      `p1.${Buffer.from('{"0":"-1"}').toString('base64url')}`,
    ])
      expect(() => decodePosition(bad), bad).toThrow(InvalidPositionError)
  })
})
