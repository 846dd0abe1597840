/**
 * Routed reads and the HTTP command door on the real broker, with two worker processes in one group:
 * - POST /commands/<topology> answers like the Kafka path (accepted, rejected, duplicate, conflict, invalid; the
 *   same reply the CommandClient gets for the same command);
 * - every aggregate's snapshot is answered by both workers, always by its owner (answeredBy, the
 *   x-decider-answered-by header; the other worker says it forwarded), and the owner is checked independently:
 *   asked with the loop header (no forwarding), the owner answers 200 and the other 503 not_owner;
 * - the same for its events and its as-of state (the event index), and `decider events --url <the other worker>`;
 * - `decider state --url <either worker>` answers for every aggregate;
 * - when one worker leaves, the other answers for everything; meanwhile answers are right or 503/504 with a code.
 */
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CommandClient } from '../../src/client/command-client.ts'
import type { ReplyEnvelope } from '../../src/domain/envelopes.ts'
import { spawnWorker, tempDir, waitForLog, writeBankTopology, type WorkerProcess } from '../support/eos.ts'
import { kafkaBrokers, newKafka, uniqueName } from '../support/kafka.ts'
import { runCli } from '../cli/run-cli.ts'

const name = uniqueName('routing')
const dir = tempDir('routing')
const file = writeBankTopology(dir, name)
const ids = Array.from({ length: 12 }, (_, i) => `acc-${i}`)
const workers: WorkerProcess[] = []
const urls: string[] = []

interface Answer {
  status: number
  body: Record<string, unknown>
  headers: Headers
}

async function request(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) })
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers }
}

const post = (base: string, body: unknown, query = '') =>
  request(`${base}/commands/${name}${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })

const state = (base: string, id: string, headers: Record<string, string> = {}) =>
  request(`${base}/state/${name}/${encodeURIComponent(id)}`, { headers })

/** Asks until the answer is not a 503 (the group settling after the second worker joined), bounded. */
async function settled(ask: () => Promise<Answer>, timeoutMs = 60_000): Promise<Answer> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const a = await ask()
    if (a.status !== 503 || Date.now() > deadline) return a
    await new Promise((r) => setTimeout(r, Number(a.body.retryAfterMs ?? 500)))
  }
}

function urlOf(w: WorkerProcess): string {
  const url = /"advertisedUrl":"(http:\/\/[^"]+)"/.exec(w.output())?.[1]
  if (url === undefined) throw new Error(`no advertisedUrl in the worker's log:\n${w.output().slice(-2000)}`)
  return url
}

beforeAll(async () => {
  workers.push(spawnWorker(file, path.join(dir, 'state-a'), { DECIDER_LOG_FORMAT: 'json' }))
  await waitForLog(workers[0]!, /"msg":"worker ready/, 1, 60_000)
  workers.push(spawnWorker(file, path.join(dir, 'state-b'), { DECIDER_LOG_FORMAT: 'json' }))
  await waitForLog(workers[1]!, /"msg":"worker ready/, 1, 60_000)
  urls.push(urlOf(workers[0]!), urlOf(workers[1]!))
}, 150_000)

afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL')
  await Promise.all(workers.map((w) => w.exited))
})

describe('two workers in one group', () => {
  it('POST /commands answers accepted, rejected, duplicate, conflict and invalid like the Kafka path', async () => {
    const [a, b] = urls as [string, string]
    const firstMs: number[] = []
    for (const [i, id] of ids.entries()) {
      const started = Date.now()
      const created = await post(i % 2 ? a : b, {
        aggregateId: id,
        type: 'CreateAccount',
        payload: { owner: id },
      })
      expect(created.status, JSON.stringify(created.body)).toBe(200)
      expect(created.body).toMatchObject({ status: 'accepted', aggregateId: id, version: 1 })
      expect(created.body.events).toEqual([['AccountCreated', 1]])
      firstMs.push(Date.now() - started)
    }
    const later = firstMs.slice(2).sort((x, y) => x - y)
    console.log(
      `[routing] POST /commands: first on each worker ${firstMs[0]} / ${firstMs[1]} ms (reply listener joins), then median ${later[later.length >> 1]} ms`,
    )
    const deposit = { aggregateId: 'acc-0', type: 'Deposit', payload: { amount: 100 }, commandId: 'dep-1' }
    const accepted = await post(a, deposit)
    expect([accepted.status, accepted.body.status, accepted.body.version]).toEqual([200, 'accepted', 2])
    expect(accepted.body.answeredBy).toBe(a)
    expect(accepted.headers.get('x-decider-answered-by')).toBe(a)

    const duplicate = await post(b, deposit)
    expect(duplicate.status).toBe(200)
    expect(duplicate.body).toMatchObject({ status: 'duplicate', originalStatus: 'accepted', version: 2 })

    const rejected = await post(a, { aggregateId: 'acc-0', type: 'Withdraw', payload: { amount: 500 } })
    expect(rejected.status).toBe(422)
    expect(rejected.body).toMatchObject({ status: 'rejected', error: { code: 'insufficient_funds' } })

    const conflict = await post(a, { ...deposit, commandId: 'dep-2', expectedVersion: 7 })
    expect(conflict.status).toBe(409)
    expect(conflict.body).toMatchObject({ status: 'conflict', error: { code: 'version_conflict' } })

    const invalid = await post(b, { aggregateId: 'acc-0', type: 'Deposit', payload: { amount: 'ten' } })
    expect(invalid.status).toBe(422)
    expect(invalid.body).toMatchObject({ status: 'invalid', error: { code: 'invalid_payload' } })

    const unknownType = await post(b, { aggregateId: 'acc-0', type: 'Steal', payload: {} })
    expect([unknownType.status, unknownType.body.status]).toEqual([422, 'invalid'])

    const badBody = await post(a, { aggregateId: 'acc-0', payload: {} })
    expect(badBody.status).toBe(400)
    expect(badBody.body).toMatchObject({ code: 'invalid_body' })
    expect(String(badBody.body.error)).toMatch(/type: /)

    // The Kafka path gives the same replies: the rejected command again through the CommandClient.
    const client = new CommandClient({
      kafka: newKafka(uniqueName('routing-client')),
      commandsTopic: `${name}.commands`,
      repliesTopic: `${name}.replies`,
    })
    try {
      const overKafka = (await client.sendAndWait(
        { aggregateId: 'acc-0', type: 'Withdraw', payload: { amount: 500 } },
        30_000,
      )) as ReplyEnvelope & Record<string, unknown>
      const { commandId: _k, ...kafkaReply } = overKafka
      const { commandId: _h, answeredBy: _a, ...httpReply } = rejected.body
      expect(httpReply).toEqual(kafkaReply)
      // And a command sent over HTTP is a duplicate over Kafka (one path, one dedupe).
      const again = await client.sendAndWait(deposit, 30_000)
      expect(again).toMatchObject({ status: 'duplicate', originalStatus: 'accepted', version: 2 })
    } finally {
      await client.close()
    }
  }, 120_000)

  it("every aggregate's snapshot is answered by both workers, by its owner, named in the answer", async () => {
    const [a, b] = urls as [string, string]
    const owners = new Set<string>()
    const timing = { local: [] as number[], forwarded: [] as number[] }
    for (const id of ids) {
      const fromA = await settled(() => state(a, id))
      const fromB = await settled(() => state(b, id))
      for (const r of [fromA, fromB]) {
        expect(r.status, JSON.stringify(r.body)).toBe(200)
        expect(r.body).toMatchObject({ aggregateId: id, version: id === 'acc-0' ? 2 : 1 })
      }
      const owner = fromA.body.answeredBy as string
      expect([a, b]).toContain(owner)
      expect(fromB.body.answeredBy, `${id}: both name the same owner`).toBe(owner)
      expect(fromA.headers.get('x-decider-answered-by')).toBe(owner)
      expect(fromB.headers.get('x-decider-answered-by')).toBe(owner)
      const other = owner === a ? b : a
      const viaOther = owner === a ? fromB : fromA
      expect(viaOther.headers.get('x-decider-forwarded-by'), `${id}: the other worker forwarded`).toBe(other)
      const { answeredBy: _x, ...snapA } = fromA.body
      const { answeredBy: _y, ...snapB } = fromB.body
      expect(snapB).toEqual(snapA)
      // Independently of the routing: without forwarding (the loop header), only the owner has it.
      const direct = await state(owner, id, { 'x-decider-forwarded': '1' })
      expect(direct.status).toBe(200)
      const refused = await state(other, id, { 'x-decider-forwarded': '1' })
      expect(refused.status).toBe(503)
      expect(refused.body).toMatchObject({ code: 'not_owner', answeredBy: other })
      expect(refused.headers.get('retry-after')).toBe('1')
      owners.add(owner)
      for (let i = 0; i < 5; i++) {
        for (const [kind, url] of [
          ['local', owner],
          ['forwarded', other],
        ] as const) {
          const started = performance.now()
          expect((await state(url, id)).status).toBe(200)
          timing[kind].push(performance.now() - started)
        }
      }
    }
    const median = (xs: number[]) => xs.sort((x, y) => x - y)[xs.length >> 1]!.toFixed(1)
    console.log(
      `[routing] GET /state median over ${timing.local.length} reads: owner ${median(timing.local)} ms, forwarded ${median(timing.forwarded)} ms`,
    )
    expect([...owners].sort(), 'both workers own some of the 12 aggregates').toEqual([a, b].sort())
  }, 120_000)

  it("every aggregate's events and as-of state are answered by both workers, by its owner", async () => {
    const [a, b] = urls as [string, string]
    const read = (base: string, id: string, sub: string) =>
      settled(() => request(`${base}/aggregates/${name}/${encodeURIComponent(id)}/${sub}`))
    for (const id of ids) {
      const [fromA, fromB] = [await read(a, id, 'events'), await read(b, id, 'events')]
      for (const r of [fromA, fromB]) expect(r.status, JSON.stringify(r.body)).toBe(200)
      const owner = fromA.body.answeredBy as string
      expect(fromB.body.answeredBy).toBe(owner)
      const versions = (fromA.body.events as { event: { version: number; aggregateId: string } }[]).map(
        (e) => e.event.version,
      )
      expect(versions).toEqual(id === 'acc-0' ? [1, 2] : [1])
      expect(fromB.body.events).toEqual(fromA.body.events)
      const asOf = [await read(a, id, 'state'), await read(b, id, 'state')]
      for (const r of asOf) {
        expect(r.status, JSON.stringify(r.body)).toBe(200)
        expect(r.body).toMatchObject({ aggregateId: id, version: versions.length, answeredBy: owner })
      }
      const before = await read(b, id, 'state?recordedAsOf=2000-01-01T00:00:00Z')
      expect(before.body).toMatchObject({
        version: 0,
        included: 0,
        total: versions.length,
        answeredBy: owner,
      })
    }
    // The CLI through the worker that does not own acc-0.
    const owner0 = (await read(a, 'acc-0', 'events')).body.answeredBy as string
    const other = owner0 === a ? b : a
    const env = { KAFKA_BROKERS: kafkaBrokers().join(',') }
    const r = await runCli(['events', file, 'acc-0', '--url', other], env)
    expect(r.code, r.stderr).toBe(0)
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { version: number }).version),
    ).toEqual([1, 2])
  }, 120_000)

  it('decider state --url <either worker> answers for every aggregate', async () => {
    const env = { KAFKA_BROKERS: kafkaBrokers().join(',') }
    for (const url of urls) {
      for (const id of ['acc-0', 'acc-5', 'acc-11']) {
        const r = await runCli(['state', file, id, '--url', url], env)
        expect(r.code, r.stderr).toBe(0)
        expect(JSON.parse(r.stdout)).toMatchObject({
          aggregateId: id,
          answeredBy: expect.stringMatching(/^http:/),
        })
      }
    }
  }, 120_000)

  it('when a worker leaves, the other takes over its reads: meanwhile only right answers or 503/504 with a code', async () => {
    const [a, b] = urls as [string, string]
    workers[1]!.kill('SIGTERM')
    await workers[1]!.exited
    const seen = new Map<string, number>()
    const deadline = Date.now() + 90_000
    let pending = [...ids]
    while (pending.length > 0 && Date.now() < deadline) {
      const next: string[] = []
      for (const id of pending) {
        const r = await state(a, id)
        const key = r.status === 200 ? '200' : `${r.status} ${String(r.body.code)}`
        seen.set(key, (seen.get(key) ?? 0) + 1)
        if (r.status === 200) {
          expect(r.body).toMatchObject({ aggregateId: id, version: id === 'acc-0' ? 2 : 1 })
          expect([a, b]).toContain(r.body.answeredBy)
          if (r.body.answeredBy === a) continue
        } else {
          expect([503, 504], JSON.stringify(r.body)).toContain(r.status)
          expect(r.body.code).toEqual(expect.any(String))
        }
        next.push(id)
      }
      pending = next
      if (pending.length > 0) await new Promise((r) => setTimeout(r, 250))
    }
    expect(pending, 'aggregates not answered by the remaining worker').toEqual([])
    console.log(`[routing] reads while worker B left, by status: ${JSON.stringify(Object.fromEntries(seen))}`)
  }, 120_000)
})
