/**
 * The event positions of a command's reply (read-your-writes on projections), without a broker:
 * - replyPositions reads the last event's offset from this worker's event index when it owns the aggregate, else
 *   from the owner's (routed, the loop header set); asks again while the index lags the reply or the owner is
 *   not known; says why when it cannot within its bound; none for replies without accepted events;
 * - POST /commands/<topology> answers accepted (and duplicate-of-accepted) replies with `positions`, or
 *   `positionsUnavailable` with the reason, and nothing else changes.
 */
import type { AddressInfo } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import type { ReplyEnvelope } from '../../src/domain/envelopes.ts'
import type { PeerGet } from '../../src/http/peer.ts'
import { replyPositions, type ReplyPositions } from '../../src/http/positions.ts'
import type { Location } from '../../src/http/routing.ts'
import { startHttp } from '../../src/http/server.ts'
import { createMetrics } from '../../src/metrics/metrics.ts'

const topologies = [{ definition: { name: 'bank' }, topics: { events: 'bank.events' } }]
const accepted = (version: number, events: [string, number][]): ReplyEnvelope => ({
  commandId: 'c1',
  aggregateId: 'acc/1',
  status: 'accepted',
  version,
  events,
})

/** An index answer as GET /aggregates/<t>/<id>/events gives it. */
const indexAnswer = (partition: number, offsets: [number, string][]) => ({
  status: 200,
  body: {
    partition,
    aggregateId: 'acc/1',
    events: offsets.map(([version, offset]) => ({ offset, event: { version } })),
  },
})

function setup(where: () => Location, local: () => { status: number; body: Record<string, unknown> }) {
  const asked: { kind: 'local' | 'peer'; query: string; url?: string }[] = []
  const failed: string[] = []
  const peer: PeerGet = async (url, path, o) => {
    asked.push({ kind: 'peer', url, query: path })
    expect(o.self).toBe('http://me:1')
    return local()
  }
  const positions = replyPositions({
    topologies,
    events: {
      aggregateEvents: async (_t, _id, q) => {
        asked.push({ kind: 'local', query: q.toString() })
        return local() as never
      },
    },
    router: () => ({
      self: 'http://me:1',
      locate: async () => where(),
      ownerFailed: (n) => void failed.push(n),
    }),
    peerGet: peer,
  })
  return { positions, asked, failed }
}

describe('replyPositions', () => {
  it("this worker owns the aggregate: its own index, for the last event's version", async () => {
    const { positions, asked } = setup(
      () => ({ at: 'local' }),
      () => indexAnswer(3, [[5, '120']]),
    )
    const r = await positions(
      'bank',
      accepted(5, [
        ['Deposited', 4],
        ['Deposited', 5],
      ]),
      1000,
    )
    expect(r).toEqual({ positions: [{ topic: 'bank.events', partition: 3, offset: '120' }] })
    expect(asked).toEqual([{ kind: 'local', query: 'fromVersion=5&toVersion=5' }])
  })

  it("another worker owns it: the owner's events route, URL-encoded", async () => {
    const { positions, asked } = setup(
      () => ({ at: 'owner', url: 'http://owner:2', partition: 1 }),
      () => indexAnswer(1, [[2, '7']]),
    )
    expect(await positions('bank', accepted(2, [['Deposited', 2]]), 1000)).toEqual({
      positions: [{ topic: 'bank.events', partition: 1, offset: '7' }],
    })
    expect(asked).toEqual([
      {
        kind: 'peer',
        url: 'http://owner:2',
        query: '/aggregates/bank/acc%2F1/events?fromVersion=2&toVersion=2',
      },
    ])
  })

  it('asks again while the index lags the reply, and while the owner is not known', async () => {
    let n = 0
    const { positions, asked } = setup(
      () =>
        ++n === 1
          ? {
              at: 'unavailable',
              status: 503,
              body: { error: 'rebalancing; try again', code: 'rebalancing', partition: 0, retryAfterMs: 20 },
            }
          : { at: 'local' },
      () => (asked.length < 3 ? indexAnswer(0, []) : indexAnswer(0, [[1, '0']])),
    )
    expect(await positions('bank', accepted(1, [['AccountCreated', 1]]), 2000)).toEqual({
      positions: [{ topic: 'bank.events', partition: 0, offset: '0' }],
    })
    expect(asked.length).toBe(3)
  })

  it('says why when it cannot find them within its bound; an owner that fails is dropped from the view', async () => {
    const { positions, failed } = setup(
      () => ({ at: 'owner', url: 'http://owner:2', partition: 1 }),
      () => ({ status: 503, body: { error: 'restoring; try again', code: 'not_running', retryAfterMs: 50 } }),
    )
    const started = Date.now()
    const r = await positions('bank', accepted(1, [['AccountCreated', 1]]), 200)
    expect(Date.now() - started).toBeLessThan(1000)
    expect(r).toMatchObject({
      unavailable: expect.stringMatching(/within 200 ms: .*503 not_running: restoring/),
    })
    expect(failed[0]).toBe('bank')
    // A definite refusal is not asked again.
    const gone = setup(
      () => ({ at: 'local' }),
      () => ({
        status: 404,
        body: { error: 'this worker does not run topology bank', code: 'unknown_topology' },
      }),
    )
    expect(await gone.positions('bank', accepted(1, [['AccountCreated', 1]]), 5000)).toMatchObject({
      unavailable: expect.stringContaining('404 unknown_topology'),
    })
    expect(gone.asked).toHaveLength(1)
  })

  it('none for a reply without events or not accepted; a duplicate of an accepted command has them', async () => {
    const { positions, asked } = setup(
      () => ({ at: 'local' }),
      () => indexAnswer(0, [[1, '3']]),
    )
    expect(await positions('bank', accepted(0, []), 100)).toEqual({ positions: [] })
    expect(
      await positions(
        'bank',
        { ...accepted(1, []), status: 'rejected', error: { code: 'x', message: 'm' } },
        100,
      ),
    ).toEqual({ positions: [] })
    expect(asked).toEqual([])
    expect(
      await positions(
        'bank',
        { ...accepted(1, [['AccountCreated', 1]]), status: 'duplicate', originalStatus: 'accepted' },
        100,
      ),
    ).toEqual({ positions: [{ topic: 'bank.events', partition: 0, offset: '3' }] })
  })
})

describe('POST /commands/<topology>: positions of accepted replies', async () => {
  let found: Awaited<ReturnType<ReplyPositions>> = { positions: [] }
  const calls: { topology: string; status: string; timeoutMs: number }[] = []
  let outcome: ReplyEnvelope['status'] = 'accepted'
  const s = await startHttp({
    host: '127.0.0.1',
    port: 0,
    registry: createMetrics().registry,
    readiness: () => ({ ready: true }),
    frontDoor: {
      self: 'http://w1:1',
      commands: {
        topologies: ['bank'],
        send: async (_t, cmd) => ({
          commandId: cmd.commandId,
          aggregateId: cmd.aggregateId,
          status: outcome,
          version: 1,
          events: outcome === 'accepted' ? [['AccountCreated', 1]] : [],
          ...(outcome === 'rejected' ? { error: { code: 'no', message: 'no' } } : {}),
        }),
        positions: async (topology, reply, timeoutMs) => {
          calls.push({ topology, status: reply.status, timeoutMs })
          return found
        },
      },
    },
  })
  afterAll(() => new Promise<void>((r) => s.close(() => r())))
  const post = async (query = '') => {
    const r = await fetch(`http://127.0.0.1:${(s.address() as AddressInfo).port}/commands/bank${query}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ aggregateId: 'acc-1', type: 'CreateAccount', payload: { owner: 'A' } }),
    })
    return { status: r.status, body: (await r.json()) as Record<string, unknown> }
  }

  it('accepted: the reply with positions', async () => {
    found = { positions: [{ topic: 'bank.events', partition: 2, offset: '41' }] }
    const r = await post('?timeoutMs=20000')
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({
      status: 'accepted',
      version: 1,
      events: [['AccountCreated', 1]],
      positions: [{ topic: 'bank.events', partition: 2, offset: '41' }],
      answeredBy: 'http://w1:1',
    })
    expect(calls.at(-1)).toEqual({ topology: 'bank', status: 'accepted', timeoutMs: 5000 })
  })

  it('positions not found in time: still 200 accepted, positionsUnavailable says why', async () => {
    found = { unavailable: 'no position within 5000 ms: rebalancing' }
    const r = await post()
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({
      status: 'accepted',
      positionsUnavailable: 'no position within 5000 ms: rebalancing',
    })
    expect(r.body.positions).toBeUndefined()
  })

  it('rejected: no positions asked', async () => {
    outcome = 'rejected'
    const before = calls.length
    const r = await post()
    expect(r.status).toBe(422)
    expect(r.body.positions).toBeUndefined()
    expect(r.body.positionsUnavailable).toBeUndefined()
    expect(calls.length).toBe(before)
    outcome = 'accepted'
  })
})
