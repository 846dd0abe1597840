/**
 * ViewClient against a scripted worker: the routes and parameters it asks (URL-encoded keys, waitFor, paging),
 * typed views, undefined for no view, a 503 with a retry hint asked again, errors with the worker's code
 * (wait_timeout, unknown_projection); positions of a reply: the HTTP reply's own, else the event index (asked again
 * while it lags the reply); waitForReply.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { ViewClient, views, type CommandReply } from '../../src/client/view-client.ts'
import { UsageError, WorkerReadError } from '../../src/errors.ts'

let server: Server | undefined
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())))

type Handler = (req: IncomingMessage, n: number) => { status: number; body: unknown }

/** A worker answering with `handle`; records the URLs asked. */
async function worker(handle: Handler): Promise<{ url: string; asked: string[] }> {
  const asked: string[] = []
  server = createServer((req, res) => {
    asked.push(req.url!)
    const { status, body } = handle(req, asked.length)
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  })
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, asked }
}

interface Totals {
  deposits: number
}

describe('ViewClient', () => {
  it('get: the typed view, undefined when there is none; read: with partition and answeredBy', async () => {
    const w = await worker((req) =>
      req.url!.includes('nobody')
        ? { status: 404, body: { error: 'no view', code: 'no_view', partition: 1 } }
        : {
            status: 200,
            body: {
              projection: 'totals',
              key: 'day/1',
              view: { deposits: 3 },
              partition: 2,
              answeredBy: 'w2',
            },
          },
    )
    const client = views<Totals>('totals', { url: w.url })
    const view: Totals | undefined = await client.get('day/1')
    expect(view).toEqual({ deposits: 3 })
    expect(await client.read('day/1')).toMatchObject({ partition: 2, answeredBy: 'w2' })
    expect(await client.get('nobody')).toBeUndefined()
    expect(w.asked[0]).toBe('/views/totals/day%2F1')
    await expect(client.get('')).rejects.toThrow(UsageError)
  })

  it('waitFor: every position as a waitFor parameter, the wait bound as timeoutMs', async () => {
    const w = await worker(() => ({
      status: 200,
      body: { projection: 'totals', key: 'k', view: { deposits: 1 }, partition: 0 },
    }))
    const client = new ViewClient<Totals>('totals', { url: w.url })
    await client.get('k', {
      waitFor: [
        { topic: 'bank.events', partition: 2, offset: '41' },
        { topic: 'shop.events', partition: 0, offset: '7' },
      ],
      waitTimeoutMs: 20_000,
    })
    await client.get('k', { waitFor: { topic: 'bank.events', partition: 1, offset: '3' } })
    expect(w.asked).toEqual([
      '/views/totals/k?waitFor=bank.events%3A2%3A41&waitFor=shop.events%3A0%3A7&timeoutMs=20000',
      '/views/totals/k?waitFor=bank.events%3A1%3A3',
    ])
  })

  it("a 503 with a retry hint is asked again; the worker's other refusals are WorkerReadErrors with its code", async () => {
    const w = await worker((req, n) =>
      req.url!.startsWith('/views/other')
        ? {
            status: 404,
            body: { error: 'this worker does not run projection other', code: 'unknown_projection' },
          }
        : req.url!.includes('late')
          ? { status: 504, body: { error: 'did not reach', code: 'wait_timeout', waitFor: [] } }
          : n === 1
            ? {
                status: 503,
                body: { error: 'rebalancing; try again', code: 'rebalancing', retryAfterMs: 30 },
              }
            : { status: 200, body: { projection: 'totals', key: 'k', view: { deposits: 2 }, partition: 0 } },
    )
    expect(await views<Totals>('totals', { url: w.url }).get('k')).toEqual({ deposits: 2 })
    expect(w.asked).toHaveLength(2)
    const late = await views('totals', { url: w.url })
      .get('late', { waitFor: { topic: 't', partition: 0, offset: '1' } })
      .catch((e: unknown) => e)
    expect(late).toBeInstanceOf(WorkerReadError)
    expect(late).toMatchObject({ status: 504, reason: 'wait_timeout' })
    const other = await views('other', { url: w.url })
      .get('k')
      .catch((e: unknown) => e)
    expect(other).toMatchObject({ status: 404, reason: 'unknown_projection' })
    expect(String((other as Error).message)).toContain('does not run projection other')
  })

  it('list: one page; entries and for-await: every view, page after page, with the prefix', async () => {
    const all = ['a1', 'a2', 'a3', 'a4', 'a5'].map((key, i) => ({ key, view: { deposits: i } }))
    const w = await worker((req) => {
      const q = new URL(req.url!, 'http://x').searchParams
      const after = q.get('after')
      const limit = Number(q.get('limit') ?? 100)
      const from = after === null ? 0 : all.findIndex((v) => v.key === after) + 1
      const page = all.slice(from, from + limit)
      const more = from + limit < all.length
      return {
        status: 200,
        body: { projection: 'totals', views: page, ...(more ? { next: page[page.length - 1]!.key } : {}) },
      }
    })
    const client = views<Totals>('totals', { url: w.url })
    expect(await client.list({ prefix: 'a', limit: 2 })).toEqual({ views: all.slice(0, 2), next: 'a2' })
    expect(await client.list({ after: 'a4' })).toEqual({ views: all.slice(4) })
    const seen: string[] = []
    for await (const { key } of client.entries({ prefix: 'a', pageSize: 2 })) seen.push(key)
    expect(seen).toEqual(all.map((v) => v.key))
    expect(w.asked.slice(-3)).toEqual([
      '/views/totals?prefix=a&limit=2',
      '/views/totals?prefix=a&after=a2&limit=2',
      '/views/totals?prefix=a&after=a4&limit=2',
    ])
    const again: string[] = []
    for await (const { key } of client) again.push(key)
    expect(again).toEqual(seen)
  })

  it("positionsOf: an HTTP reply's own positions; a Kafka reply's from the event index, asked again while it lags", async () => {
    const w = await worker((_req, n) => ({
      status: 200,
      body: {
        partition: 4,
        aggregateId: 'acc/1',
        events: n < 3 ? [] : [{ offset: '99', event: { version: 3 } }],
      },
    }))
    const client = views('totals', { url: w.url })
    const overKafka: CommandReply = {
      commandId: 'c',
      aggregateId: 'acc/1',
      status: 'accepted',
      version: 3,
      events: [
        ['Deposited', 2],
        ['Deposited', 3],
      ],
    }
    const positions = [{ topic: 'bank.events', partition: 4, offset: '99' }]
    expect(await client.positionsOf(overKafka, 'bank')).toEqual(positions)
    expect(w.asked).toEqual(Array(3).fill('/aggregates/bank/acc%2F1/events?fromVersion=3&toVersion=3'))
    const topology = { definition: { name: 'bank' }, topics: { events: 'custom-events' } }
    expect(await client.waitForReply(overKafka, topology)).toEqual({
      waitFor: [{ topic: 'custom-events', partition: 4, offset: '99' }],
    })
    // An HTTP reply carries them: nothing asked.
    const asked = w.asked.length
    const overHttp = { ...overKafka, positions: [{ topic: 'bank.events', partition: 1, offset: '5' }] }
    expect(await client.waitForReply(overHttp)).toEqual({ waitFor: overHttp.positions })
    expect(await client.positionsOf({ ...overKafka, status: 'rejected', events: [] }, 'bank')).toEqual([])
    expect(w.asked.length).toBe(asked)
    await expect(client.waitForReply(overKafka)).rejects.toThrow(/give waitForReply the topology/)
  })

  it('positionsOf gives up at timeoutMs when the event never shows in the index', async () => {
    const w = await worker(() => ({ status: 200, body: { partition: 0, aggregateId: 'a', events: [] } }))
    const err = await new ViewClient('totals', { url: w.url, timeoutMs: 1000 })
      .positionsOf(
        { commandId: 'c', aggregateId: 'a', status: 'accepted', version: 1, events: [['E', 1]] },
        'bank',
      )
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ reason: 'not_indexed' })
  })
})
