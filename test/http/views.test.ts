/**
 * The query API of projections without a broker: two real HTTP servers ("workers" A and B, each a front door with
 * the real aggregateRouter over a scripted owner directory, and viewQueries over fake projection tasks), the four
 * partitions of a projection split between them.
 * - GET /views/<p>/<key> is answered by the owner of the key's partition through either worker (answeredBy, the
 *   forwarder named), 404 no_view / unknown_projection, 400 for bad parameters;
 * - GET /views/<p> merges every partition's views in bytewise key order whichever worker is asked, pages with
 *   `next`, filters by prefix; a partition whose owner cannot answer is a 503/504 with its code, never a short list;
 * - waitFor waits on the owning task until the position is applied (also through a forward, beyond
 *   forwardTimeoutMs), 504 wait_timeout with the position reached, 503 when the task closes meanwhile.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import { PAST_ALL_KEYS, sourceId, type SourcePosition } from '../../src/domain/projection-records.ts'
import type { FrontDoorOptions } from '../../src/http/front-door.ts'
import { aggregateRouter, viewPartitionOf, type OwnerLookup } from '../../src/http/routing.ts'
import { startHttp } from '../../src/http/server.ts'
import { viewQueries, type ViewQueryableRunner, type ViewQueryableTask } from '../../src/http/views.ts'
import { createMetrics } from '../../src/metrics/metrics.ts'
import { TaskState } from '../../src/runtime/task-state.ts'

const SOURCE = 'bank.events'
const projection = { definition: { name: 'totals', partitions: 4 }, sources: [{ topic: SOURCE }] }

/** A projection task over a map: committed views, source positions, waiters (like ProjectionTask's). */
class FakeTask implements ViewQueryableTask {
  state: TaskState = TaskState.RUNNING
  readonly data = new Map<string, unknown>()
  private readonly positions = new Map<string, SourcePosition>()
  private readonly waiters = new Set<() => void>()

  async view(key: string): Promise<unknown> {
    return this.state === TaskState.RUNNING ? this.data.get(key) : undefined
  }

  async views(r: { prefix?: string; after?: string; limit: number }) {
    if (this.state !== TaskState.RUNNING) return [] // what a closed task's store reads as
    return [...this.data.keys()]
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      .filter((k) => k.startsWith(r.prefix ?? ''))
      .filter((k) => r.after === undefined || Buffer.compare(Buffer.from(k), Buffer.from(r.after)) > 0)
      .slice(0, r.limit)
      .map((key) => ({ key, view: this.data.get(key) }))
  }

  sourcePositions(): ReadonlyMap<string, SourcePosition> {
    return this.positions
  }

  /** Applies source topic[partition] up to offset (a commit). */
  apply(topic: string, partition: number, offset: bigint): void {
    this.positions.set(sourceId(topic, partition), { offset, keyIndex: PAST_ALL_KEYS })
    for (const w of this.waiters) w()
  }

  close(): void {
    this.state = TaskState.CLOSED
    for (const w of this.waiters) w()
  }

  waitFor(topic: string, partition: number, offset: bigint, timeoutMs: number): Promise<boolean> {
    const reached = () => (this.positions.get(sourceId(topic, partition))?.offset ?? -1n) >= offset
    if (reached()) return Promise.resolve(true)
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer)
        this.waiters.delete(check)
        resolve(v)
      }
      const check = () => (reached() ? done(true) : this.state === TaskState.CLOSED ? done(false) : undefined)
      const timer = setTimeout(() => done(false), timeoutMs)
      this.waiters.add(check)
    })
  }
}

// Keys spread over the 4 partitions; one non-ASCII and one astral key: bytewise order is not JS's order.
const keys = [
  ...Array.from({ length: 20 }, (_, i) => `acc-${String(i).padStart(2, '0')}`),
  'day/2024-01-01',
  'day/2024-01-02',
  'day/2024-02-01',
  'zé',
  'z\u{1F600}',
  'z\uFF21',
]
const bytewise = (xs: string[]) => [...xs].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
const partitionOfKey = (k: string) => viewPartitionOf(k, 4)

interface FakeWorker {
  url: string
  tasks: Map<number, FakeTask>
  door: FrontDoorOptions
  runner: ViewQueryableRunner | undefined
}

/** Which worker owns each partition, as the group says (undefined: rebalancing); shared by both directories. */
const owners = new Map<number, string | undefined>()
const invalidated: string[] = []
const servers: Server[] = []
afterAll(() => Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))))

async function fakeWorker(partitions: number[], forwardTimeoutMs = 5_000): Promise<FakeWorker> {
  const tasks = new Map(partitions.map((p) => [p, new FakeTask()]))
  const w: FakeWorker = {
    url: '',
    tasks,
    door: { self: 'pending', forwardTimeoutMs },
    runner: { name: 'totals', tasks },
  }
  const server = await startHttp({
    host: '127.0.0.1',
    port: 0,
    registry: createMetrics().registry,
    readiness: () => ({ ready: true }),
    views: viewQueries({
      projections: [projection],
      runners: () => (w.runner ? [w.runner] : []),
      router: () => w.door.router,
      peerTimeoutMs: 1_000,
    }),
    frontDoor: w.door,
  })
  servers.push(server)
  w.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  w.door.self = w.url
  w.door.router = aggregateRouter({
    topologies: [],
    runners: () => [],
    projections: [projection],
    projectionRunners: () => (w.runner ? [w.runner] : []),
    directory: {
      ownerOf: async (name, partition): Promise<OwnerLookup> => {
        if (name !== 'totals') return { found: false, code: 'no_owner', reason: `no group ${name}` }
        const url = owners.get(partition)
        return url === undefined
          ? { found: false, code: 'rebalancing', reason: 'group totals is PreparingRebalance' }
          : { found: true, url, memberId: url }
      },
      invalidate: (name) => void invalidated.push(name),
    },
    self: w.url,
    advertisedUrl: w.url,
  })
  return w
}

async function get(url: string, headers: Record<string, string> = {}) {
  const r = await fetch(url, { headers })
  return { status: r.status, headers: r.headers, body: (await r.json()) as Record<string, unknown> }
}

describe('GET /views over two workers', async () => {
  const a = await fakeWorker([0, 1])
  const b = await fakeWorker([2, 3], 150)
  const ownerOf = (p: number) => (p < 2 ? a : b)
  const setOwners = () => {
    for (let p = 0; p < 4; p++) owners.set(p, ownerOf(p).url)
  }
  for (const k of keys)
    ownerOf(partitionOfKey(k)).tasks.get(partitionOfKey(k))!.data.set(k, { key: k, n: k.length })
  beforeEach(() => {
    setOwners()
    invalidated.length = 0
    for (const w of [a, b]) for (const t of w.tasks.values()) t.state = TaskState.RUNNING
  })

  it('the keys spread over both workers (else the test proves little)', () => {
    const held = (w: FakeWorker) => [...w.tasks.values()].reduce((n, t) => n + t.data.size, 0)
    expect(held(a)).toBeGreaterThan(3)
    expect(held(b)).toBeGreaterThan(3)
  })

  it('a view is answered through either worker by the owner of its partition, the forwarder named', async () => {
    for (const key of keys) {
      const owner = ownerOf(partitionOfKey(key))
      const other = owner === a ? b : a
      const path = `/views/totals/${encodeURIComponent(key)}`
      const direct = await get(owner.url + path)
      const via = await get(other.url + path)
      for (const r of [direct, via]) {
        expect(r.status, key).toBe(200)
        expect(r.body).toEqual({
          projection: 'totals',
          key,
          view: { key, n: key.length },
          partition: partitionOfKey(key),
          answeredBy: owner.url,
        })
        expect(r.headers.get('x-decider-answered-by')).toBe(owner.url)
      }
      expect(via.headers.get('x-decider-forwarded-by')).toBe(other.url)
      expect(direct.headers.get('x-decider-forwarded-by')).toBeNull()
    }
  })

  it('404 no_view (from the owner), 404 unknown_projection, 400 for a malformed path', async () => {
    const missing = 'nobody'
    const r = await get(`${a.url}/views/totals/${missing}`)
    expect(r).toMatchObject({
      status: 404,
      body: {
        code: 'no_view',
        partition: partitionOfKey(missing),
        answeredBy: ownerOf(partitionOfKey(missing)).url,
      },
    })
    expect(await get(`${a.url}/views/other/x`)).toMatchObject({
      status: 404,
      body: {
        code: 'unknown_projection',
        error: 'this worker does not run projection other (it runs: totals)',
      },
    })
    expect(await get(`${a.url}/views/other`)).toMatchObject({
      status: 404,
      body: { code: 'unknown_projection' },
    })
    for (const bad of ['/views', '/views/', '/views/totals/%E0%A4%A'])
      expect((await get(a.url + bad)).status, bad).toBe(400)
  })

  it('a list through either worker is every view of every partition, in bytewise key order', async () => {
    for (const w of [a, b]) {
      const r = await get(`${w.url}/views/totals?limit=1000`)
      expect(r.status).toBe(200)
      expect(r.body).toEqual({
        projection: 'totals',
        views: bytewise(keys).map((key) => ({ key, view: { key, n: key.length } })),
        answeredBy: w.url,
      })
    }
    // Bytewise: U+FF21 (EF BC A1) before U+1F600 (F0 9F 98 80), unlike JS's UTF-16 order.
    const tail = ((await get(`${a.url}/views/totals?prefix=z`)).body.views as { key: string }[]).map(
      (v) => v.key,
    )
    expect(tail).toEqual(['zé', 'z\uFF21', 'z\u{1F600}'])
  })

  it('pages with next (limit default 100, max 1000) until the end; prefix filters', async () => {
    const seen: string[] = []
    let after: string | undefined
    for (let page = 0; page < 20; page++) {
      const q = new URLSearchParams({ limit: '4', ...(after !== undefined ? { after } : {}) })
      const r = await get(`${page % 2 ? a.url : b.url}/views/totals?${q}`)
      expect(r.status).toBe(200)
      const views = (r.body.views as { key: string }[]).map((v) => v.key)
      seen.push(...views)
      after = r.body.next as string | undefined
      if (after === undefined) break
      expect(views).toHaveLength(4)
      expect(after).toBe(views[3])
    }
    expect(after).toBeUndefined()
    expect(seen).toEqual(bytewise(keys))
    const days = await get(`${a.url}/views/totals?prefix=day%2F2024-01`)
    expect((days.body.views as { key: string }[]).map((v) => v.key)).toEqual([
      'day/2024-01-01',
      'day/2024-01-02',
    ])
    expect(days.body.next).toBeUndefined()
    const exact = await get(`${a.url}/views/totals?limit=${keys.length}`)
    expect(exact.body.next, 'exactly `limit` views left: no next').toBeUndefined()
    for (const bad of [
      'limit=0',
      'limit=1001',
      'limit=x',
      'partitions=4',
      'partitions=a',
      'limit=1&limit=2',
    ]) {
      const r = await get(`${a.url}/views/totals?${bad}`)
      expect(r.status, bad).toBe(400)
      expect(r.body.code).toBe('bad_request')
    }
  })

  it('partitions= (what workers ask each other) answers from this worker only: another partition is 503 not_owner', async () => {
    const mine = await get(`${a.url}/views/totals?partitions=0,1`)
    expect(mine.status).toBe(200)
    const expected = bytewise(keys.filter((k) => partitionOfKey(k) < 2))
    expect((mine.body.views as { key: string }[]).map((v) => v.key)).toEqual(expected)
    const theirs = await get(`${a.url}/views/totals?partitions=1,2`)
    expect(theirs).toMatchObject({ status: 503, body: { code: 'not_owner', partition: 2 } })
    expect(theirs.headers.get('retry-after')).toBe('1')
    const forwarded = await get(`${a.url}/views/totals`, { 'x-decider-forwarded': '1' })
    expect(forwarded).toMatchObject({ status: 503, body: { code: 'not_owner' } })
  })

  it('never a partial list: an owner unknown, unreachable, or whose task is restoring makes it a 503 with the code', async () => {
    owners.set(3, undefined)
    const unknown = await get(`${a.url}/views/totals`)
    expect(unknown).toMatchObject({
      status: 503,
      body: { code: 'rebalancing', partition: 3, retryAfterMs: 1000 },
    })
    expect(unknown.headers.get('retry-after')).toBe('1')

    owners.set(3, 'http://127.0.0.1:9') // nothing listens there
    const unreachable = await get(`${a.url}/views/totals`)
    expect(unreachable).toMatchObject({ status: 503, body: { code: 'owner_unreachable', partitions: [3] } })
    expect(invalidated).toContain('totals')

    setOwners()
    b.tasks.get(2)!.state = TaskState.RESTORING
    const restoring = await get(`${a.url}/views/totals`)
    expect(restoring).toMatchObject({
      status: 503,
      body: { code: 'not_running', partitions: [2, 3], owner: b.url },
    })
    expect(String(restoring.body.error)).toContain('RESTORING')
    // And this worker's own restoring task.
    b.tasks.get(2)!.state = TaskState.RUNNING
    a.tasks.get(0)!.state = TaskState.RESTORING
    expect(await get(`${b.url}/views/totals`)).toMatchObject({
      status: 503,
      body: { code: 'not_running', partitions: [0, 1] },
    })
    expect(await get(`${a.url}/views/totals`)).toMatchObject({
      status: 503,
      body: { code: 'not_running', partition: 0, taskState: 'RESTORING' },
    })
  })

  it('503 starting before the projection runner exists', async () => {
    const runner = a.runner
    a.runner = undefined
    try {
      expect(await get(`${a.url}/views/totals`)).toMatchObject({ status: 503, body: { code: 'starting' } })
      const k = keys.find((x) => partitionOfKey(x) < 2)!
      expect(await get(`${a.url}/views/totals/${k}`)).toMatchObject({
        status: 503,
        body: { code: 'starting' },
      })
    } finally {
      a.runner = runner
    }
  })

  describe('waitFor', () => {
    const key = keys.find((k) => partitionOfKey(k) >= 2)! // owned by B: asked through A, forwarded
    const task = () => b.tasks.get(partitionOfKey(key))!
    const url = (q: string) => `${a.url}/views/totals/${encodeURIComponent(key)}?${q}`

    it('waits until the owning task applied the position (longer than forwardTimeoutMs), then answers', async () => {
      task().apply(SOURCE, 1, 40n)
      const started = Date.now()
      setTimeout(() => task().apply(SOURCE, 1, 41n), 400)
      const r = await get(url(`waitFor=${SOURCE}:1:41&timeoutMs=5000`))
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      expect(r.body).toMatchObject({ key, answeredBy: b.url })
      expect(Date.now() - started).toBeGreaterThanOrEqual(350)
      // Reached already: at once.
      expect((await get(url(`waitFor=${SOURCE}:1:41`))).status).toBe(200)
    })

    it('several positions: all must be reached', async () => {
      task().apply(SOURCE, 0, 10n)
      setTimeout(() => task().apply(SOURCE, 2, 5n), 100)
      const r = await get(url(`waitFor=${SOURCE}:0:10&waitFor=${SOURCE}:2:5&timeoutMs=3000`))
      expect(r.status).toBe(200)
    })

    it('504 wait_timeout with the position reached, when the task does not get there in time', async () => {
      task().apply(SOURCE, 4, 7n)
      const r = await get(url(`waitFor=${SOURCE}:4:9&waitFor=${SOURCE}:5:0&timeoutMs=200`))
      expect(r.status).toBe(504)
      expect(r.body).toMatchObject({
        code: 'wait_timeout',
        answeredBy: b.url,
        waitFor: [
          { topic: SOURCE, partition: 4, offset: '9', reached: false, applied: '7' },
          { topic: SOURCE, partition: 5, offset: '0', reached: false, applied: null },
        ],
      })
    })

    it('503 not_running when the task closes while waiting (the partition moved)', async () => {
      setTimeout(() => task().close(), 100)
      const r = await get(url(`waitFor=${SOURCE}:9:1&timeoutMs=5000`))
      expect(r).toMatchObject({ status: 503, body: { code: 'not_running', taskState: 'CLOSED' } })
    })

    it('400 for a malformed position, a topic that is not a source, a bad timeoutMs', async () => {
      for (const [q, message] of [
        [`waitFor=${SOURCE}:1`, /waitFor must be <topic>:<partition>:<offset>/],
        [`waitFor=${SOURCE}:1:-1`, /waitFor must be/],
        [
          'waitFor=other.events:0:1',
          /other\.events is not a source of projection totals \(its sources: bank\.events\)/,
        ],
        [`waitFor=${SOURCE}:0:1&timeoutMs=30001`, /timeoutMs must be an integer in 1\.\.30000/],
        [`waitFor=${SOURCE}:0:1&timeoutMs=0`, /timeoutMs must be/],
      ] as const) {
        const r = await get(url(q))
        expect(r.status, q).toBe(400)
        expect(r.body.code).toBe('bad_request')
        expect(String(r.body.error), q).toMatch(message)
      }
    })
  })
})
