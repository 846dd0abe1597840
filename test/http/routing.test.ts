/**
 * The routing decision alone (aggregateRouter over a fake directory): answered here when this worker holds the
 * partition's task, forwarded to the owner the group names, 503 with a code when the owner is unknown, the loop
 * header never forwarded; plus the aggregate paths it routes and the advertised URL it announces.
 */
import { describe, expect, it } from 'vitest'
import { partitionOf } from '../../src/kafka/partitioner.ts'
import {
  advertisedUrlOf,
  aggregatePath,
  aggregateRouter,
  viewPartitionOf,
  viewPath,
  type OwnerDirectory,
  type OwnerLookup,
} from '../../src/http/routing.ts'

const topologies = [{ definition: { name: 'bank', partitions: 6 } }]
const SELF = 'http://10.0.0.1:9464'

/** A directory whose answers are scripted per call; records the calls. */
function directory(...answers: OwnerLookup[]) {
  const calls: { partition: number; fresh: boolean }[] = []
  const invalidated: string[] = []
  const d: OwnerDirectory = {
    ownerOf: async (_t, partition, o) => {
      calls.push({ partition, fresh: o?.fresh ?? false })
      return answers[Math.min(calls.length - 1, answers.length - 1)]!
    },
    invalidate: (t) => void invalidated.push(t),
  }
  return { d, calls, invalidated }
}

const owner = (url: string): OwnerLookup => ({ found: true, url, memberId: `m-${url}` })

function router(held: number[], dir: OwnerDirectory, runners = true) {
  return aggregateRouter({
    topologies,
    runners: () => (runners ? [{ name: 'bank', tasks: new Map(held.map((p) => [p, {}])) }] : []),
    directory: dir,
    self: SELF,
    advertisedUrl: SELF,
  })
}

const id = 'acc-1'
const p = partitionOf(id, 6)

describe('aggregateRouter', () => {
  it('answers here when this worker holds the partition, without asking the group', async () => {
    const { d, calls } = directory(owner('http://other:1'))
    expect(await router([p], d).locate('bank', id, false)).toEqual({ at: 'local' })
    expect(calls).toEqual([])
  })

  it('leaves unknown topologies and topologies still starting to the local handlers (404 / 503 starting)', async () => {
    const { d, calls } = directory(owner('http://other:1'))
    expect(await router([], d).locate('nope', id, false)).toEqual({ at: 'local' })
    expect(await router([], d, false).locate('bank', id, false)).toEqual({ at: 'local' })
    expect(calls).toEqual([])
  })

  it('forwards to the owner the group names', async () => {
    const { d, calls } = directory(owner('http://other:1'))
    expect(await router([], d).locate('bank', id, false)).toEqual({
      at: 'owner',
      url: 'http://other:1',
      partition: p,
    })
    expect(calls).toEqual([{ partition: p, fresh: false }])
  })

  it('never forwards a forwarded request (one hop): 503 not_owner, the group not even asked', async () => {
    const { d, calls } = directory(owner('http://other:1'))
    const r = await router([], d).locate('bank', id, true)
    expect(r).toMatchObject({
      at: 'unavailable',
      status: 503,
      body: { code: 'not_owner', partition: p, retryAfterMs: 1000 },
    })
    expect(calls).toEqual([])
  })

  it.each([
    ['rebalancing', 'group bank is PreparingRebalance'],
    ['no_owner', 'nobody has it'],
    ['not_advertised', 'no endpoint'],
    ['lookup_failed', 'broker down'],
  ] as const)('owner unknown (%s): 503 with that code, the reason and a retry hint', async (code, reason) => {
    const { d } = directory({ found: false, code, reason })
    const r = await router([], d).locate('bank', id, false)
    expect(r.at).toBe('unavailable')
    if (r.at !== 'unavailable') return
    expect(r.body.code).toBe(code)
    expect(r.body.error).toContain(reason)
    expect(r.body.error).toMatch(/try again$/)
    expect(r.body.retryAfterMs).toBeGreaterThan(0)
  })

  it('the group names this worker, which has no task for it: asks once more, fresh; then 503 rebalancing, never itself', async () => {
    const stale = directory(owner(SELF), owner('http://other:1'))
    expect(await router([], stale.d).locate('bank', id, false)).toEqual({
      at: 'owner',
      url: 'http://other:1',
      partition: p,
    })
    expect(stale.calls).toEqual([
      { partition: p, fresh: false },
      { partition: p, fresh: true },
    ])
    const joining = directory(owner(SELF))
    expect(await router([], joining.d).locate('bank', id, false)).toMatchObject({
      at: 'unavailable',
      body: { code: 'rebalancing' },
    })
  })

  it('ownerFailed drops the cached view of the group', () => {
    const { d, invalidated } = directory(owner('http://other:1'))
    router([], d).ownerFailed('bank')
    expect(invalidated).toEqual(['bank'])
  })
})

describe('aggregateRouter: views of projections', () => {
  const projections = [{ definition: { name: 'totals', partitions: 4 } }]
  function viewRouter(held: number[], dir: OwnerDirectory) {
    return aggregateRouter({
      topologies,
      runners: () => [{ name: 'bank', tasks: new Map() }],
      projections,
      projectionRunners: () => [{ name: 'totals', tasks: new Map(held.map((q) => [q, {}])) }],
      directory: dir,
      self: SELF,
      advertisedUrl: SELF,
    })
  }
  const key = 'day/2024-01-01 é'
  const q = viewPartitionOf(key, 4)

  it("a view key's partition is the murmur2 partition of its UTF-8 bytes, as the router task writes it", () => {
    expect(q).toBe(partitionOf(Buffer.from(key, 'utf8'), 4))
    expect(
      new Set(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((k) => viewPartitionOf(k, 4))).size,
    ).toBeGreaterThan(1)
  })

  it("answers here when this worker holds the key's partition; else asks the projection's group, by name", async () => {
    const { d, calls } = directory(owner('http://other:1'))
    expect(await viewRouter([q], d).locateView('totals', key, false)).toEqual({ at: 'local' })
    expect(calls).toEqual([])
    const asked: string[] = []
    const named: OwnerDirectory = {
      ownerOf: async (name, partition, o) => (asked.push(name), d.ownerOf(name, partition, o)),
      invalidate: d.invalidate,
    }
    expect(await viewRouter([], named).locateView('totals', key, false)).toEqual({
      at: 'owner',
      url: 'http://other:1',
      partition: q,
    })
    expect(asked).toEqual(['totals'])
  })

  it('the same refusals as aggregates: one hop (not_owner), owner unknown (503 with the code)', async () => {
    const { d } = directory({
      found: false,
      code: 'rebalancing',
      reason: 'group totals is CompletingRebalance',
    })
    expect(await viewRouter([], d).locateView('totals', key, true)).toMatchObject({
      at: 'unavailable',
      body: { code: 'not_owner', partition: q },
    })
    const r = await viewRouter([], d).locateView('totals', key, false)
    expect(r).toMatchObject({
      at: 'unavailable',
      status: 503,
      body: { code: 'rebalancing', retryAfterMs: 1000 },
    })
    if (r.at === 'unavailable') expect(r.body.error).toContain(`partition ${q} of projection totals`)
  })

  it('locatePartition: by kind; an unknown projection, or a topology name asked as a projection, is left to the handlers', async () => {
    const { d, calls } = directory(owner('http://other:1'))
    const router = viewRouter([1], d)
    expect(await router.locatePartition('projection', 'totals', 1, false)).toEqual({ at: 'local' })
    expect(await router.locatePartition('projection', 'totals', 2, false)).toMatchObject({
      at: 'owner',
      partition: 2,
    })
    expect(await router.locateView('nope', key, false)).toEqual({ at: 'local' })
    expect(await router.locatePartition('projection', 'bank', 0, false)).toEqual({ at: 'local' })
    expect(await router.locatePartition('topology', 'totals', 0, false)).toEqual({ at: 'local' })
    expect(calls).toHaveLength(1)
  })
})

describe('viewPath', () => {
  it('names (projection, key) of /views/<p>/<key>, the key URL-decoded (it may hold a slash)', () => {
    expect(viewPath('/views/totals/acc-1')).toEqual({ projection: 'totals', key: 'acc-1' })
    expect(viewPath('/views/totals/day%2F2024-01-01')).toEqual({
      projection: 'totals',
      key: 'day/2024-01-01',
    })
    expect(viewPath('/views/totals/a/b')).toEqual({ projection: 'totals', key: 'a/b' })
    for (const path of ['/views/totals', '/views/totals/', '/views', '/state/bank/x', '/views/t/%E0%A4%A'])
      expect(viewPath(path), path).toBeUndefined()
  })
})

describe('aggregatePath', () => {
  it('names (topology, aggregateId) of /state/<t>/<id> and /aggregates/<t>/<id>/<anything>', () => {
    expect(aggregatePath('/state/bank/acc-1')).toEqual({ topology: 'bank', aggregateId: 'acc-1' })
    expect(aggregatePath('/state/bank/a%2Fb%20c')).toEqual({ topology: 'bank', aggregateId: 'a/b c' })
    expect(aggregatePath('/aggregates/bank/acc-1/events')).toEqual({ topology: 'bank', aggregateId: 'acc-1' })
    expect(aggregatePath('/aggregates/bank/acc%2F1/state-at')).toEqual({
      topology: 'bank',
      aggregateId: 'acc/1',
    })
  })

  it('leaves every other path, and malformed ones, to the handlers', () => {
    for (const path of [
      '/metrics',
      '/state/bank',
      '/state/bank/',
      '/aggregates/bank/acc-1',
      '/events/bank',
      '/state/bank/%E0%A4%A',
    ])
      expect(aggregatePath(path), path).toBeUndefined()
  })
})

describe('advertisedUrlOf', () => {
  it('is http.advertisedUrl (its origin) when set, else the bind when it is a concrete address', () => {
    expect(advertisedUrlOf('0.0.0.0', 9464, 'http://w1.internal:9464/')).toBe('http://w1.internal:9464')
    expect(advertisedUrlOf('127.0.0.1', 40123)).toBe('http://127.0.0.1:40123')
    expect(advertisedUrlOf('::1', 9464)).toBe('http://[::1]:9464')
    expect(advertisedUrlOf('w1.internal', 9464)).toBe('http://w1.internal:9464')
  })

  it("replaces {ip} and {hostname} in http.advertisedUrl with the machine's (replicas sharing one config)", () => {
    const machine = { hostname: 'worker-7f3a', ip: '172.18.0.5' }
    expect(advertisedUrlOf('0.0.0.0', 9464, 'http://{ip}:9464', machine)).toBe('http://172.18.0.5:9464')
    expect(advertisedUrlOf('0.0.0.0', 9464, 'http://{hostname}:9464', machine)).toBe(
      'http://worker-7f3a:9464',
    )
    expect(advertisedUrlOf('0.0.0.0', 1, 'http://{ip}:2', { hostname: 'h', ip: 'fd00::5' })).toBe(
      'http://[fd00::5]:2',
    )
    expect(() => advertisedUrlOf('0.0.0.0', 1, 'http://{ip}:2', { hostname: 'h' })).toThrow(
      /http\.advertisedUrl http:\/\/\{ip\}:2: this machine has no external IPv4 address for \{ip\}/,
    )
  })

  it('is undefined for a wildcard bind without http.advertisedUrl (nobody could reach 0.0.0.0)', () => {
    for (const host of ['0.0.0.0', '::', '']) expect(advertisedUrlOf(host, 9464), host).toBeUndefined()
  })
})
