/**
 * Bi-temporal reads on the real broker, over a known timeline. Commands go through POST /commands of a worker with
 * chosen business times (metadata.issuedAt); the worker's clock gives recordedAt, so the test notes the wall-clock
 * instant between each reply and the next send (R1..R4) to use as recordedAsOf bounds:
 *
 *   v  business time (issuedAt)  command                                         recorded
 *   1  2024-03-01 08:00          CreateAccount                                   first
 *   2  2024-03-01 09:00          Deposit 100                                     <= R1
 *   3  2024-03-05 09:00          Deposit 50                                      (R1, R2]
 *   4  2024-03-10 09:00          Deposit 30                                      (R2, R3]
 *   5  2024-03-12 09:00          CorrectDeposit of v3: -20 ("the slip says 30")  (R3, R4]
 *   6  2024-03-03 12:00          Deposit 5, recorded late                        after R4
 *
 * The correction takes effect at the business time of the event it corrects (2024-03-05, domain/as-of.ts), not at
 * its own. Checked through GET /aggregates/<t>/<id>/state, `decider state --url`, and EventStoreClient.stateAt,
 * against the balances worked out by hand below; and the correction's link through GET .../events.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EventStoreClient } from '../../src/client/event-store.ts'
import { resolveWorkerConfig } from '../../src/config/worker-config.ts'
import { loadTopology } from '../../src/topology/loader.ts'
import { Worker } from '../../src/worker/worker.ts'
import { ROOT, runCli } from '../cli/run-cli.ts'
import { tempDir } from '../support/eos.ts'
import { kafkaBrokers, uniqueName } from '../support/kafka.ts'

const name = uniqueName('asof')
const dir = tempDir('asof')
const file = path.join(dir, `${name}.yaml`)
writeFileSync(
  file,
  `name: ${name}\ndecider: ${path.join(ROOT, 'topologies/bank-account.ts')}\npartitions: 2\n`,
)
const id = 'acc-timeline'
let worker: Worker
let url: string
/** Wall-clock instants (epoch ms) between the replies: R[1] after v2, R[2] after v3, R[3] after v4, R[4] after v5. */
const R: number[] = []

interface Answer {
  status: number
  body: Record<string, unknown>
}

async function request(target: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(target, { ...init, signal: AbortSignal.timeout(30_000) })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

const send = (type: string, payload: object, issuedAt: string) =>
  request(`${url}/commands/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ aggregateId: id, type, payload, metadata: { issuedAt } }),
  })

/** Notes the instant after a reply and lets the clock move on, so the next event is recorded strictly after it. */
async function mark(): Promise<void> {
  R.push(Date.now())
  await new Promise((r) => setTimeout(r, 20))
}

const stateAt = (q: Record<string, string>) =>
  request(`${url}/aggregates/${name}/${id}/state?${new URLSearchParams(q)}`)
const iso = (ms: number) => new Date(ms).toISOString()

beforeAll(async () => {
  worker = new Worker({
    topologies: [await loadTopology(file)],
    config: resolveWorkerConfig(
      {
        kafka: { brokers: kafkaBrokers() },
        stateDir: path.join(dir, 'state'),
        http: { host: '127.0.0.1', port: 0 },
        log: { level: 'silent' },
      },
      {},
    ),
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  })
  await worker.start()
  url = worker.httpAddress!
  const deadline = Date.now() + 60_000
  while (!worker.isReady()) {
    if (Date.now() > deadline) throw new Error('worker not ready within 60 s')
    await new Promise((r) => setTimeout(r, 100))
  }
  R.push(Date.now()) // R[0]: before anything was recorded
  await new Promise((r) => setTimeout(r, 20))
  const timeline: [string, object, string, boolean][] = [
    ['CreateAccount', { owner: 'Ada' }, '2024-03-01T08:00:00Z', false],
    ['Deposit', { amount: 100 }, '2024-03-01T09:00:00Z', true],
    ['Deposit', { amount: 50 }, '2024-03-05T09:00:00Z', true],
    ['Deposit', { amount: 30 }, '2024-03-10T09:00:00Z', true],
    [
      'CorrectDeposit',
      { eventId: `${id}@3`, difference: -20, reason: 'the slip says 30' },
      '2024-03-12T09:00:00Z',
      true,
    ],
    ['Deposit', { amount: 5 }, '2024-03-03T12:00:00Z', false],
  ]
  for (const [i, [type, payload, issuedAt, marked]] of timeline.entries()) {
    const r = await send(type, payload, issuedAt)
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    // The reply of an accepted POST /commands carries the event's position in the owner's index: it is readable.
    expect(r.body).toMatchObject({ status: 'accepted', version: i + 1, positions: [expect.anything()] })
    if (marked) await mark()
  }
}, 120_000)

afterAll(async () => {
  await worker?.stop()
})

describe('state as of a business time and a recording time, on the real broker', () => {
  it('the events carry the chosen business times and the worker recording times between the marks', async () => {
    const r = await request(`${url}/aggregates/${name}/${id}/events`)
    expect(r.status).toBe(200)
    const events = (r.body.events as { event: Record<string, unknown> }[]).map((e) => e.event)
    expect(events.map((e) => e.eventTime)).toEqual([
      '2024-03-01T08:00:00.000Z',
      '2024-03-01T09:00:00.000Z',
      '2024-03-05T09:00:00.000Z',
      '2024-03-10T09:00:00.000Z',
      '2024-03-12T09:00:00.000Z',
      '2024-03-03T12:00:00.000Z',
    ])
    const recorded = events.map((e) => Date.parse(e.recordedAt as string))
    // v1, v2 in (R0, R1]; v3 in (R1, R2]; v4 in (R2, R3]; v5 in (R3, R4]; v6 after R4.
    const slot = (t: number) => R.filter((r) => r < t).length
    expect(recorded.map(slot)).toEqual([1, 1, 2, 3, 4, 5])
    // The correction's link, both ways, through HTTP.
    expect(events[2]).toMatchObject({ correctedBy: [{ eventId: `${id}@5`, reason: 'the slip says 30' }] })
    expect(events[4]).toMatchObject({ type: 'DepositCorrected', corrects: [`${id}@3`] })
    const corrected = await request(`${url}/aggregates/${name}/${id}/events?history=corrected`)
    expect((corrected.body.events as { event: { version: number } }[]).map((e) => e.event.version)).toEqual([
      1, 2, 4, 5, 6,
    ])
  })

  it('GET .../state?eventTimeAsOf=: what was true then, as known now (the correction counts from 2024-03-05)', async () => {
    const balance = async (t: string) => {
      const r = await stateAt({ eventTimeAsOf: t })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      return r.body as { state: { status: string; balance: number }; version: number; included: number }
    }
    expect(await balance('2024-02-29T23:59:59Z')).toMatchObject({
      state: { status: 'none', balance: 0 },
      version: 0,
      included: 0,
    })
    expect(await balance('2024-03-01T08:30:00Z')).toMatchObject({ state: { status: 'open', balance: 0 } })
    // 100 (03-01) + 5 (03-03, recorded late but known now)
    expect(await balance('2024-03-04T00:00:00Z')).toMatchObject({ state: { balance: 105 }, included: 3 })
    // 100 + 5 + 50 (03-05) - 20 (its correction, effective 03-05); not 30 (03-10)
    expect(await balance('2024-03-07T00:00:00Z')).toMatchObject({
      state: { balance: 135 },
      version: 6,
      included: 5,
    })
    // Before the correction was issued (03-12), yet it counts: it takes effect at the corrected event's time.
    expect(await balance('2024-03-11T00:00:00Z')).toMatchObject({ state: { balance: 165 }, included: 6 })
    const now = await stateAt({})
    expect(now.body).toMatchObject({ state: { balance: 165 }, version: 6, included: 6, total: 6 })
  })

  it('GET .../state?recordedAsOf=: what we believed at each mark (before the correction, before the late deposit)', async () => {
    const believed = async (ms: number) => (await stateAt({ recordedAsOf: iso(ms) })).body
    expect(await believed(R[0]!)).toMatchObject({ state: { status: 'none', balance: 0 }, version: 0 })
    expect(await believed(R[1]!)).toMatchObject({ state: { balance: 100 }, version: 2 })
    expect(await believed(R[2]!)).toMatchObject({ state: { balance: 150 }, version: 3 })
    expect(await believed(R[3]!)).toMatchObject({ state: { balance: 180 }, version: 4 }) // uncorrected
    expect(await believed(R[4]!)).toMatchObject({ state: { balance: 160 }, version: 5 }) // corrected, no late 5
    expect(await stateAt({ recordedAsOf: String(R[3]!) })).toMatchObject({
      status: 200,
      body: { state: { balance: 180 }, asOf: { recordedAsOf: iso(R[3]!) } },
    })
    // Both: 2024-03-07 as believed at R3 (the 50 not yet corrected) and at R4 (corrected; the late 5 unknown).
    expect(
      (await stateAt({ eventTimeAsOf: '2024-03-07T00:00:00Z', recordedAsOf: iso(R[3]!) })).body,
    ).toMatchObject({
      state: { balance: 150 },
      version: 3,
      included: 3,
    })
    expect(
      (await stateAt({ eventTimeAsOf: '2024-03-07T00:00:00Z', recordedAsOf: iso(R[4]!) })).body,
    ).toMatchObject({
      state: { balance: 130 },
      version: 5,
      included: 4,
    })
    expect(
      (await stateAt({ eventTimeAsOf: '2024-03-04T00:00:00Z', recordedAsOf: iso(R[4]!) })).body,
    ).toMatchObject({
      state: { balance: 100 },
      version: 2,
    })
  })

  it('decider state --event-time-as-of / --recorded-as-of and EventStoreClient.stateAt give the same numbers', async () => {
    const env = { KAFKA_BROKERS: kafkaBrokers().join(',') }
    const cli = async (...flags: string[]) => {
      const r = await runCli(['state', file, id, '--url', url, ...flags], env)
      expect(r.code, r.stderr).toBe(0)
      return JSON.parse(r.stdout) as { state: { balance: number }; version: number }
    }
    expect(await cli('--event-time-as-of', '2024-03-07T00:00:00Z')).toMatchObject({
      state: { balance: 135 },
      version: 6,
    })
    expect(await cli('--recorded-as-of', iso(R[3]!))).toMatchObject({ state: { balance: 180 }, version: 4 })
    expect(
      await cli('--event-time-as-of', '2024-03-07T00:00:00Z', '--recorded-as-of', iso(R[4]!)),
    ).toMatchObject({ state: { balance: 130 }, version: 5 })

    const client = new EventStoreClient({ url })
    expect(await client.stateAt(name, id, { eventTimeAsOf: '2024-03-04T00:00:00Z' })).toMatchObject({
      state: { balance: 105 },
      included: 3,
      total: 6,
    })
    expect(await client.stateAt(name, id, { recordedAsOf: new Date(R[2]!) })).toMatchObject({
      state: { balance: 150 },
      version: 3,
    })
    expect(
      await client.stateAt(name, id, {
        eventTimeAsOf: new Date('2024-03-07T00:00:00Z'),
        recordedAsOf: new Date(R[4]!),
      }),
    ).toMatchObject({ state: { balance: 130 }, version: 5 })
    expect(await client.stateAt(name, id)).toMatchObject({ state: { balance: 165 }, version: 6 })
  }, 60_000)
})
