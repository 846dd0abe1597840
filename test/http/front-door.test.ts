/**
 * Forwarding between two real HTTP servers (startHttp with a front door) over scripted routers: the owner's answer
 * relayed with its answeredBy and the forwarder named, the loop header sent and honoured, 503 with a retry hint when
 * the owner is unknown, 503/504 when it cannot be reached or is slow (and the router told), local answers named.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import type { FrontDoorOptions } from '../../src/http/front-door.ts'
import type { AggregateRouter, Location } from '../../src/http/routing.ts'
import { startHttp } from '../../src/http/server.ts'
import type { StateQuery } from '../../src/http/state.ts'
import { createMetrics } from '../../src/metrics/metrics.ts'

const servers: Server[] = []
afterAll(() => Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))))

const base = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`

/** A router that answers `where` and records what it was asked. */
function scripted(self: string, where: (forwarded: boolean) => Location) {
  const asked: { topology: string; aggregateId: string; forwarded: boolean }[] = []
  const failed: string[] = []
  const router: AggregateRouter = {
    self,
    locate: async (topology, aggregateId, forwarded) => {
      asked.push({ topology, aggregateId, forwarded })
      return where(forwarded)
    },
    locateView: async (projection, key, forwarded) => {
      asked.push({ topology: projection, aggregateId: key, forwarded })
      return where(forwarded)
    },
    locatePartition: async (_kind, name, partition, forwarded) => {
      asked.push({ topology: name, aggregateId: `#${partition}`, forwarded })
      return where(forwarded)
    },
    ownerFailed: (t) => void failed.push(t),
  }
  return { router, asked, failed }
}

const snapshot: StateQuery = async (topology, aggregateId) => ({
  status: 200,
  body: { partition: 3, aggregateId, version: 7, state: { topology } },
})

async function worker(door: FrontDoorOptions, state: StateQuery = snapshot): Promise<Server> {
  const s = await startHttp({
    host: '127.0.0.1',
    port: 0,
    registry: createMetrics().registry,
    readiness: () => ({ ready: true }),
    state,
    frontDoor: door,
  })
  servers.push(s)
  return s
}

/** A raw server standing in for an owner: answers with `handle`. */
async function rawOwner(handle: Parameters<typeof createServer>[1]): Promise<Server> {
  const s = createServer(handle)
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  servers.push(s)
  return s
}

const unavailable = (code: string): Location => ({
  at: 'unavailable',
  status: 503,
  body: { error: `${code}; try again`, code, partition: 3, retryAfterMs: 1000 },
})

describe('front door: routed reads', async () => {
  const ownerDoor: FrontDoorOptions = { self: 'pending' }
  const owner = scripted('owner', (forwarded) => (forwarded ? { at: 'local' } : unavailable('unexpected')))
  ownerDoor.router = owner.router
  const ownerServer = await worker(ownerDoor)
  ownerDoor.self = base(ownerServer) // what the worker does once it knows its port

  it('forwards to the owner, which answers from its own tasks; the answer names the owner and the forwarder', async () => {
    const asker = scripted('http://asker:1', () => ({ at: 'owner', url: base(ownerServer), partition: 3 }))
    const s = await worker({ self: 'http://asker:1', router: asker.router })
    const r = await fetch(`${base(s)}/state/bank/acc%2F1`)
    expect(r.status).toBe(200)
    expect(r.headers.get('x-decider-answered-by')).toBe(base(ownerServer))
    expect(r.headers.get('x-decider-forwarded-by')).toBe('http://asker:1')
    expect(await r.json()).toEqual({
      partition: 3,
      aggregateId: 'acc/1',
      version: 7,
      state: { topology: 'bank' },
      answeredBy: base(ownerServer),
    })
    expect(asker.asked).toEqual([{ topology: 'bank', aggregateId: 'acc/1', forwarded: false }])
    // The owner saw the loop header: it answers or refuses, never forwards again.
    expect(owner.asked.at(-1)).toEqual({ topology: 'bank', aggregateId: 'acc/1', forwarded: true })
    // Any /aggregates/<t>/<id>/... path is routed the same way (here the owner has no such handler: its 404 is relayed).
    const sub = await fetch(`${base(s)}/aggregates/bank/acc-2/events?fromVersion=2`)
    expect(sub.status).toBe(404)
    expect(sub.headers.get('x-decider-answered-by')).toBe(base(ownerServer))
    expect(owner.asked.at(-1)).toEqual({ topology: 'bank', aggregateId: 'acc-2', forwarded: true })
  })

  it('a forwarded request is never forwarded again: the router is told, and its refusal is a 503 naming this worker', async () => {
    const r1 = scripted('http://w1:1', (forwarded) =>
      forwarded ? unavailable('not_owner') : { at: 'local' },
    )
    const s = await worker({ self: 'http://w1:1', router: r1.router })
    const r = await fetch(`${base(s)}/state/bank/acc-1`, { headers: { 'x-decider-forwarded': '1' } })
    expect(r.status).toBe(503)
    expect(r.headers.get('retry-after')).toBe('1')
    expect(r.headers.get('x-decider-answered-by')).toBe('http://w1:1')
    expect(await r.json()).toMatchObject({ code: 'not_owner', retryAfterMs: 1000, answeredBy: 'http://w1:1' })
    expect(r1.asked).toEqual([{ topology: 'bank', aggregateId: 'acc-1', forwarded: true }])
  })

  it('owner unknown (the group rebalancing): 503 with the code and a retry hint, never a local guess', async () => {
    let asked = 0
    const s = await worker(
      { self: 'http://w1:1', router: scripted('http://w1:1', () => unavailable('rebalancing')).router },
      async () => {
        asked++
        return { status: 200, body: {} }
      },
    )
    const r = await fetch(`${base(s)}/state/bank/acc-1`)
    expect(r.status).toBe(503)
    expect(r.headers.get('retry-after')).toBe('1')
    expect(await r.json()).toMatchObject({ code: 'rebalancing', partition: 3, retryAfterMs: 1000 })
    expect(asked).toBe(0)
  })

  it('an owner that cannot be reached: 503 owner_unreachable, and the router drops its view', async () => {
    const gone = await rawOwner(() => undefined)
    const url = base(gone)
    await new Promise<void>((r) => gone.close(() => r()))
    servers.splice(servers.indexOf(gone), 1)
    const asker = scripted('http://w1:1', () => ({ at: 'owner', url, partition: 3 }))
    const s = await worker({ self: 'http://w1:1', router: asker.router })
    const r = await fetch(`${base(s)}/state/bank/acc-1`)
    expect(r.status).toBe(503)
    expect(await r.json()).toMatchObject({ code: 'owner_unreachable', answeredBy: 'http://w1:1' })
    expect(asker.failed).toEqual(['bank'])
  })

  it('an owner slower than forwardTimeoutMs: 504 forward_timeout, and the router drops its view', async () => {
    const slow = await rawOwner((_req, res) => void setTimeout(() => res.end('late'), 2000).unref())
    const asker = scripted('http://w1:1', () => ({ at: 'owner', url: base(slow), partition: 3 }))
    const s = await worker({ self: 'http://w1:1', router: asker.router, forwardTimeoutMs: 150 })
    const started = Date.now()
    const r = await fetch(`${base(s)}/state/bank/acc-1`)
    expect(r.status).toBe(504)
    expect(Date.now() - started).toBeLessThan(1500)
    expect(await r.json()).toMatchObject({ code: 'forward_timeout' })
    expect(asker.failed).toEqual(['bank'])
  })

  it("relays the owner's answer as it is (status, type, body) and tells the router when it is a 503", async () => {
    const other = await rawOwner((req, res) => {
      const refused = req.url!.includes('moved')
      res
        .writeHead(refused ? 503 : 200, {
          'content-type': 'application/x-ndjson',
          'x-decider-answered-by': 'owner-2',
        })
        .end(refused ? '{"code":"not_owner"}\n' : '{"a":1}\n{"a":2}\n')
    })
    const asker = scripted('http://w1:1', () => ({ at: 'owner', url: base(other), partition: 3 }))
    const s = await worker({ self: 'http://w1:1', router: asker.router })
    const r = await fetch(`${base(s)}/aggregates/bank/acc-1/events`)
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toBe('application/x-ndjson')
    expect(r.headers.get('x-decider-answered-by')).toBe('owner-2')
    expect(await r.text()).toBe('{"a":1}\n{"a":2}\n')
    expect(asker.failed).toEqual([])
    const moved = await fetch(`${base(s)}/state/bank/moved`)
    expect(moved.status).toBe(503)
    expect(asker.failed).toEqual(['bank'])
  })

  it('local answers name this worker: the header on every response, answeredBy in JSON bodies', async () => {
    const s = await worker({
      self: 'http://w1:1',
      router: scripted('http://w1:1', () => ({ at: 'local' })).router,
    })
    const r = await fetch(`${base(s)}/state/bank/acc-1`)
    expect(r.headers.get('x-decider-answered-by')).toBe('http://w1:1')
    expect(await r.json()).toMatchObject({ aggregateId: 'acc-1', answeredBy: 'http://w1:1' })
    const livez = await fetch(`${base(s)}/livez`)
    expect([livez.headers.get('x-decider-answered-by'), await livez.text()]).toEqual(['http://w1:1', 'ok\n'])
  })
})
