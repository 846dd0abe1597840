/**
 * Authenticated HTTP (src/http/auth.ts, guard.ts) over a worker's real routes (worker-http.fixture.ts), bearer
 * tokens: every route class without a token (401 with WWW-Authenticate: Bearer, JSON code), with a token lacking the
 * permission (403), with the right one (served); health and metrics open by default and protected when configured;
 * any other path needs a credential; reads forwarded between two workers carry the caller's token (a routed read, a
 * list of views assembled from another worker, the positions of a command's reply) and the owner checks it.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { tokenDigest, type TokenCredential } from '../../src/config/http-credentials.ts'
import { httpAuth, routeClass } from '../../src/http/auth.ts'
import type { AggregateRouter, Location } from '../../src/http/routing.ts'
import { HTTP_ROUTES } from '../../src/http/routes.ts'
import { ROUTE_REQUESTS, workerHttp, type Fixture } from './worker-http.fixture.ts'

const TOKENS = {
  reader: 'reader-token-0123456789abcdef',
  writer: 'writer-token-0123456789abcdef',
  admin: 'admin-token-0123456789abcdef',
}
const credentials: TokenCredential[] = [
  { name: 'reader', permissions: ['read'], sha256: tokenDigest(TOKENS.reader) },
  { name: 'writer', permissions: ['write'], sha256: tokenDigest(TOKENS.writer) },
  { name: 'admin', permissions: ['read', 'write'], sha256: tokenDigest(TOKENS.admin) },
]

const fixtures: Fixture[] = []
afterAll(() => Promise.all(fixtures.map((f) => f.close())))
async function worker(o: Parameters<typeof workerHttp>[0]): Promise<Fixture> {
  const f = await workerHttp(o)
  fixtures.push(f)
  return f
}

type RouteRequest = (typeof ROUTE_REQUESTS)[number]

async function call(base: string, r: RouteRequest | { method: string; path: string }, token?: string) {
  const body = 'body' in r ? JSON.stringify(r.body) : undefined
  const res = await fetch(base + r.path, {
    method: r.method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body !== undefined ? { body } : {}),
  })
  const text = await res.text()
  let json: Record<string, unknown> | undefined
  try {
    json = JSON.parse(text) as Record<string, unknown>
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, text, json }
}

describe('bearer tokens, per route class', async () => {
  const w = await worker({ auth: { tokens: credentials } })

  it('the requests below cover every route the server serves', () => {
    expect(ROUTE_REQUESTS.map((r) => `${r.method} ${routeClass(r.path)}`).sort()).toEqual(
      HTTP_ROUTES.map((r) => `${r.method} ${routeClass(r.path.replace(/\{[^}]+\}/g, 'x'))}`).sort(),
    )
  })

  it.each(ROUTE_REQUESTS.filter((r) => r.class === 'read' || r.class === 'write'))(
    '$method $path: no token 401 (WWW-Authenticate: Bearer), the other permission 403, the right one served',
    async (r) => {
      const none = await call(w.url, r)
      expect(none.status).toBe(401)
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="kafka-decider"/)
      expect(none.headers.get('content-type')).toMatch(/^application\/json/)
      expect(none.json).toMatchObject({ code: 'unauthenticated' })
      expect(none.json!.error).toContain(`with the ${r.class} permission`)

      const other = r.class === 'read' ? TOKENS.writer : TOKENS.reader
      const wrong = await call(w.url, r, other)
      expect(wrong.status).toBe(403)
      expect(wrong.json).toMatchObject({ code: 'forbidden' })
      expect(wrong.json!.error).toContain(`lacks the ${r.class} permission`)

      const right = await call(w.url, r, r.class === 'read' ? TOKENS.reader : TOKENS.writer)
      expect(right.status, right.text).toBe(200)
      const both = await call(w.url, r, TOKENS.admin)
      expect(both.status, both.text).toBe(200)
    },
  )

  it("a token that is not one of the worker's, or a malformed header, is 401 with the Bearer error", async () => {
    const bad = await call(w.url, ROUTE_REQUESTS[3], 'not-a-token-of-this-worker')
    expect(bad.status).toBe(401)
    expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"')
    expect(bad.json).toMatchObject({ code: 'invalid_credentials' })
    // A token that differs in its last character only: the digests differ entirely.
    expect((await call(w.url, ROUTE_REQUESTS[3], TOKENS.reader.slice(0, -1) + 'g')).status).toBe(401)
    for (const header of ['Basic cmVhZGVyOnB3', 'Bearer', `Bearer ${TOKENS.reader} extra`, TOKENS.reader]) {
      const r = await fetch(`${w.url}/state/bank/acc-1`, { headers: { authorization: header } })
      expect(r.status, header).toBe(401)
      expect(r.headers.get('www-authenticate'), header).toContain('error="invalid_request"')
    }
    // The scheme is case-insensitive.
    const lower = await fetch(`${w.url}/state/bank/acc-1`, {
      headers: { authorization: `bearer ${TOKENS.reader}` },
    })
    expect(lower.status).toBe(200)
  })

  it('/livez, /readyz and /metrics are open by default, with or without a token', async () => {
    for (const r of ROUTE_REQUESTS.filter((x) => x.class === 'health' || x.class === 'metrics')) {
      expect((await call(w.url, r)).status, r.path).toBe(200)
      expect((await call(w.url, r, TOKENS.writer)).status, r.path).toBe(200)
    }
  })

  it("the console's files are open (no data in them): 200 without a token, and with any", async () => {
    for (const r of ROUTE_REQUESTS.filter((x) => x.class === 'asset')) {
      expect((await call(w.url, r)).status, r.path).toBe(200)
      expect((await call(w.url, r, TOKENS.reader)).status, r.path).toBe(200)
    }
    // Not a way around the guard: the API behind the page still asks for the token.
    expect((await call(w.url, { method: 'GET', path: '/topologies' })).status).toBe(401)
  })

  it('any other path needs a credential (401), then answers 404 as JSON', async () => {
    const none = await call(w.url, { method: 'GET', path: '/nope' })
    expect(none.status).toBe(401)
    const known = await call(w.url, { method: 'GET', path: '/nope' }, TOKENS.writer)
    expect(known.status).toBe(404)
    expect(known.json).toMatchObject({ code: 'not_found' })
  })

  it('a command with a write-only token is accepted without positions (they need read); with read too it has them', async () => {
    const cmd = ROUTE_REQUESTS.find((r) => r.class === 'write')!
    const writeOnly = await call(w.url, cmd, TOKENS.writer)
    expect(writeOnly.status).toBe(200)
    expect(writeOnly.json).toMatchObject({ status: 'accepted' })
    expect(writeOnly.json!.positions).toBeUndefined()
    expect(writeOnly.json!.positionsUnavailable).toMatch(/read permission/)
    const both = await call(w.url, cmd, TOKENS.admin)
    expect(both.json).toMatchObject({
      status: 'accepted',
      positions: [{ topic: 'bank.events', partition: expect.any(Number), offset: '41' }],
    })
  })
})

describe('protected health and metrics', async () => {
  const w = await worker({ auth: { tokens: credentials, protectHealth: true, protectMetrics: true } })
  const onlyMetrics = await worker({ auth: { tokens: credentials, protectMetrics: true } })

  it('need a credential (any permission) when protected', async () => {
    for (const r of ROUTE_REQUESTS.filter((x) => x.class === 'health' || x.class === 'metrics')) {
      const none = await call(w.url, r)
      expect(none.status, r.path).toBe(401)
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/)
      expect(none.json).toMatchObject({ code: 'unauthenticated' })
      expect((await call(w.url, r, 'wrong-token-0123456789')).status, r.path).toBe(401)
      expect((await call(w.url, r, TOKENS.reader)).status, r.path).toBe(200)
      expect((await call(w.url, r, TOKENS.writer)).status, r.path).toBe(200)
    }
  })

  it('each separately: protectMetrics alone leaves the probes open', async () => {
    expect((await call(onlyMetrics.url, { method: 'GET', path: '/metrics' })).status).toBe(401)
    expect((await call(onlyMetrics.url, { method: 'GET', path: '/livez' })).status).toBe(200)
    expect((await call(onlyMetrics.url, { method: 'GET', path: '/readyz' })).status).toBe(200)
  })
})

describe('without credentials configured', async () => {
  const w = await worker({})
  it('every route is served as before (the loopback default)', async () => {
    for (const r of ROUTE_REQUESTS) expect((await call(w.url, r)).status, r.path).toBe(200)
    expect(httpAuth({ tokens: [] }).enabled).toBe(false)
  })
})

/** A router that sends every aggregate and view read to `owner` (and answers forwarded ones here). */
function forwardingTo(owner: () => string, self: string): AggregateRouter {
  const at = (forwarded: boolean): Location =>
    forwarded ? { at: 'local' } : { at: 'owner', url: owner(), partition: 0 }
  return {
    self,
    locate: async (_t, _id, forwarded) => at(forwarded),
    locateView: async (_p, _k, forwarded) => at(forwarded),
    locatePartition: async (_kind, _name, _p, forwarded) => at(forwarded),
    ownerFailed: () => undefined,
  }
}

describe("forwarded reads carry the caller's token; the owner checks it", async () => {
  const owner = await worker({ auth: { tokens: credentials }, self: 'http://owner:1' })
  // The asker knows one more token than the owner: the owner refuses it.
  const askerOnly = 'asker-only-token-0123456789'
  const asker = await worker({
    auth: {
      tokens: [
        ...credentials,
        { name: 'local', permissions: ['read', 'write'], sha256: tokenDigest(askerOnly) },
      ],
    },
    self: 'http://asker:1',
    router: forwardingTo(() => owner.url, 'http://asker:1'),
    holds: false,
  })

  it('a routed read: the owner answers a token it knows, and refuses (401, relayed) one it does not', async () => {
    const ok = await call(asker.url, { method: 'GET', path: '/state/bank/acc-1' }, TOKENS.reader)
    expect(ok.status, ok.text).toBe(200)
    expect(ok.headers.get('x-decider-answered-by')).toBe('http://owner:1')
    expect(ok.headers.get('x-decider-forwarded-by')).toBe('http://asker:1')
    const view = await call(asker.url, { method: 'GET', path: '/views/totals/k1' }, TOKENS.admin)
    expect(view.status).toBe(200)
    expect(view.json).toMatchObject({ view: { n: 1 }, answeredBy: 'http://owner:1' })

    const refused = await call(asker.url, { method: 'GET', path: '/state/bank/acc-1' }, askerOnly)
    expect(refused.status).toBe(401)
    expect(refused.json).toMatchObject({ code: 'invalid_credentials', answeredBy: 'http://owner:1' })
    // The asker itself checks first: no token, no forward.
    const none = await call(asker.url, { method: 'GET', path: '/state/bank/acc-1' })
    expect(none.status).toBe(401)
    expect(none.json).toMatchObject({ answeredBy: 'http://asker:1' })
  })

  it("a list of views asks the other worker for its partitions with the caller's token", async () => {
    const ok = await call(asker.url, { method: 'GET', path: '/views/totals' }, TOKENS.reader)
    expect(ok.status, ok.text).toBe(200)
    expect(ok.json).toMatchObject({ views: [{ key: 'k1', view: { n: 1 } }], answeredBy: 'http://asker:1' })
    const refused = await call(asker.url, { method: 'GET', path: '/views/totals' }, askerOnly)
    expect(refused.status).toBe(401)
    expect(refused.json!.error).toMatch(
      /the owner http:\/\/127\.0\.0\.1:\d+ answered 401 invalid_credentials/,
    )
  })

  it("the positions of a command's reply are read from the owner with the caller's token", async () => {
    const cmd = ROUTE_REQUESTS.find((r) => r.class === 'write')!
    const ok = await call(asker.url, cmd, TOKENS.admin)
    expect(ok.json).toMatchObject({ status: 'accepted', positions: [{ offset: '41' }] })
    const refused = await call(asker.url, cmd, askerOnly)
    expect(refused.json).toMatchObject({ status: 'accepted' })
    expect(refused.json!.positionsUnavailable).toMatch(/401 invalid_credentials/)
  })
})
