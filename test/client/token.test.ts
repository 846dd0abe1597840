/**
 * The read clients against a worker with http.auth on: EventStoreClient and ViewClient send their `token` as
 * `Authorization: Bearer` on every request (a retry included); without one the worker's 401 is a WorkerReadError
 * with the status and code; a 429 with a retry hint (the worker at http.maxConcurrent) is asked again.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { EventStoreClient } from '../../src/client/event-store.ts'
import { ViewClient } from '../../src/client/view-client.ts'
import { tokenDigest } from '../../src/config/http-credentials.ts'
import { WorkerReadError } from '../../src/errors.ts'
import { workerHttp } from '../http/worker-http.fixture.ts'

const TOKEN = 'client-read-token-0123456789'
const w = await workerHttp({
  auth: { tokens: [{ name: 'client', permissions: ['read'], sha256: tokenDigest(TOKEN) }] },
})
const servers: Server[] = []
afterAll(async () => {
  await w.close()
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))))
})

describe('clients with a token', () => {
  it('EventStoreClient: events() and stateAt() send it; without it, a WorkerReadError 401', async () => {
    const client = new EventStoreClient({ url: w.url, token: TOKEN, timeoutMs: 2000 })
    expect(await client.events('bank', 'acc-1')).toEqual([])
    expect(await client.stateAt('bank', 'acc-1')).toMatchObject({ aggregateId: 'acc-1', version: 0 })
    const e = await new EventStoreClient({ url: w.url, timeoutMs: 2000 })
      .events('bank', 'acc-1')
      .catch((x: unknown) => x)
    expect(e).toBeInstanceOf(WorkerReadError)
    expect(e).toMatchObject({ status: 401, reason: 'unauthenticated' })
    const bad = await new EventStoreClient({ url: w.url, token: 'wrong-token-0123456789', timeoutMs: 2000 })
      .events('bank', 'acc-1')
      .catch((x: unknown) => x)
    expect(bad).toMatchObject({ status: 401, reason: 'invalid_credentials' })
  })

  it('ViewClient: get(), list() and positionsOf() send it; without it, a WorkerReadError 401', async () => {
    const totals = new ViewClient('totals', { url: w.url, token: TOKEN, timeoutMs: 2000 })
    expect(await totals.get('k1')).toEqual({ n: 1 })
    expect(await totals.list()).toEqual({ views: [{ key: 'k1', view: { n: 1 } }] })
    const positions = await totals.positionsOf(
      { commandId: 'c', aggregateId: 'acc-1', status: 'accepted', version: 1, events: [['Deposited', 1]] },
      'bank',
    )
    expect(positions).toEqual([{ topic: 'bank.events', partition: expect.any(Number), offset: '41' }])
    await expect(new ViewClient('totals', { url: w.url, timeoutMs: 2000 }).get('k1')).rejects.toMatchObject({
      status: 401,
      reason: 'unauthenticated',
    })
  })

  it('a 429 with a retry hint is asked again, with the token each time', async () => {
    const seen: (string | undefined)[] = []
    const s = createServer((req, res) => {
      seen.push(req.headers.authorization)
      const busy = seen.length === 1
      res
        .writeHead(busy ? 429 : 200, { 'content-type': 'application/json' })
        .end(
          JSON.stringify(
            busy
              ? { error: 'busy; try again', code: 'too_many_requests', retryAfterMs: 20 }
              : { projection: 'totals', key: 'k', view: 1, partition: 0 },
          ),
        )
    })
    servers.push(s)
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
    const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`
    expect(await new ViewClient('totals', { url, token: TOKEN }).get('k')).toBe(1)
    expect(seen).toEqual([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`])
  })
})
