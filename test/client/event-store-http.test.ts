/**
 * EventStoreClient over HTTP against a scripted worker: a 503 with a retry hint (the group rebalancing) is asked
 * again within timeoutMs; a 503 that lasts, or one without a hint, is a WorkerReadError naming the code.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { EventStoreClient } from '../../src/client/event-store.ts'
import { WorkerReadError } from '../../src/errors.ts'

let server: Server | undefined
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())))

/** A worker that refuses `refusals` times (503, with `hint` as retryAfterMs when given), then answers. */
async function worker(
  refusals: number,
  hint: number | undefined,
): Promise<{ url: string; asked: () => number }> {
  let asked = 0
  server = createServer((_req, res) => {
    asked++
    const refuse = asked <= refusals
    res.writeHead(refuse ? 503 : 200, { 'content-type': 'application/json' }).end(
      JSON.stringify(
        refuse
          ? {
              error: 'the group is rebalancing; try again',
              code: 'rebalancing',
              ...(hint ? { retryAfterMs: hint } : {}),
            }
          : {
              partition: 1,
              aggregateId: 'acc-1',
              events: [{ offset: '7', event: { version: 1 } }],
              answeredBy: 'w2',
            },
      ),
    )
  })
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()))
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, asked: () => asked }
}

describe('EventStoreClient over HTTP', () => {
  it('asks again while the worker answers 503 with a retry hint', async () => {
    const w = await worker(2, 50)
    const events = await new EventStoreClient({ url: w.url, timeoutMs: 5000 }).events('bank', 'acc-1')
    expect(events).toEqual([{ partition: 1, offset: 7n, event: { version: 1 } }])
    expect(w.asked()).toBe(3)
  })

  it('gives up at timeoutMs with the code, and at once on a 503 without a hint', async () => {
    const lasting = await worker(1000, 50)
    const started = Date.now()
    const e = await new EventStoreClient({ url: lasting.url, timeoutMs: 400 })
      .events('bank', 'acc-1')
      .catch((x: unknown) => x)
    expect(e).toBeInstanceOf(WorkerReadError)
    expect(e).toMatchObject({ status: 503, reason: 'rebalancing' })
    expect(Date.now() - started).toBeLessThan(3000)
    expect(lasting.asked()).toBeGreaterThan(2)
    await new Promise<void>((r) => server!.close(() => r()))
    const final = await worker(1000, undefined)
    await expect(
      new EventStoreClient({ url: final.url, timeoutMs: 5000 }).events('bank', 'acc-1'),
    ).rejects.toThrow(/rebalancing; try again/)
    expect(final.asked()).toBe(1)
  })
})
