/**
 * A fuzz of HTTP requests at the byte level against a worker's real HTTP server (worker-http.fixture.ts: every
 * route over fake runners, tokens on, small bounds; some reads forwarded to a second worker): random methods
 * (known, unknown, garbage), targets (routes with %-garbage, `..`, NUL, raw bytes, CR/LF, very long), headers
 * (tokens good and bad, content types, Expect, random ones), bodies (JSON commands and queries, random JSON and
 * bytes, sizes up to the limit and beyond) and framings (Content-Length, chunked in pieces, none, truncated, a
 * length that lies, the client hanging up or resetting).
 *
 * Every answer must be one well-formed HTTP response with a status in 100..599, every 4xx a JSON `{ error, code }`
 * (5xx too, but for the text probes), and the server must survive it all: /livez answers afterwards, nothing was
 * thrown unhandled (vitest fails the run on one). Bounded: 300 cases, a few seconds.
 */
import fc from 'fast-check'
import type { AddressInfo } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { tokenDigest } from '../../src/config/http-credentials.ts'
import type { AggregateRouter, Location } from '../../src/http/routing.ts'
import { rawRequest, type RawResult } from './raw-http.ts'
import { workerHttp } from './worker-http.fixture.ts'

const LIMIT = 2048
const TOKENS = {
  read: 'fuzz-read-token-0123456789',
  write: 'fuzz-write-token-0123456789',
  admin: 'fuzz-admin-token-0123456789',
}
const auth = {
  tokens: [
    { name: 'r', permissions: ['read' as const], sha256: tokenDigest(TOKENS.read) },
    { name: 'w', permissions: ['write' as const], sha256: tokenDigest(TOKENS.write) },
    { name: 'a', permissions: ['read' as const, 'write' as const], sha256: tokenDigest(TOKENS.admin) },
  ],
}
const limits = {
  maxBodyBytes: LIMIT,
  maxUrlBytes: 4096,
  maxConcurrent: 64,
  headersTimeoutMs: 1000,
  requestTimeoutMs: 1500,
}

const owner = await workerHttp({ auth, limits, self: 'http://owner:1' })
/** Aggregates and views whose id starts with "r" are another worker's: forwarded to `owner`. */
const at = (id: string, forwarded: boolean): Location =>
  !forwarded && id.startsWith('r') ? { at: 'owner', url: owner.url, partition: 0 } : { at: 'local' }
const router: AggregateRouter = {
  self: 'http://fuzzed:1',
  locate: async (_t, id, forwarded) => at(id, forwarded),
  locateView: async (_p, key, forwarded) => at(key, forwarded),
  locatePartition: async () => ({ at: 'local' }),
  ownerFailed: () => undefined,
}
const fuzzed = await workerHttp({ auth, limits, router, self: 'http://fuzzed:1' })
const port = (fuzzed.server.address() as AddressInfo).port
afterAll(() => Promise.all([fuzzed.close(), owner.close()]))

const segment = fc.oneof(
  fc.constantFrom(
    'bank',
    'acc-1',
    'racc-1',
    'totals',
    'k1',
    'rk1',
    '..',
    '.',
    '%',
    '%Z',
    '%00',
    '%2F',
    '%2e%2e',
    '%C3%28',
    '%FF',
    '%E0%A4%A',
    '%F0%9F%98%80',
    '\u0000',
    '',
    'events',
    'state',
  ),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.stringMatching(/^[%0-9a-fA-FxZ]{1,9}$/),
)
const query = fc.option(
  fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.constantFrom(
      'limit=5',
      'limit=-1',
      'limit=99999999999',
      'fromVersion=1&toVersion=1',
      'from=garbage',
      'waitFor=bank.events:0:5&timeoutMs=10',
      'waitFor=x:y:z',
      'timeoutMs=0',
      'partitions=0,9',
      'prefix=%FF&after=%',
      'eventTimeAsOf=not-a-time',
    ),
  ),
  { nil: undefined },
)
const target = fc
  .tuple(
    fc.oneof(
      fc
        .tuple(
          fc.constantFrom(
            '/state/bank/',
            '/aggregates/bank/',
            '/events/',
            '/views/totals/',
            '/views/',
            '/commands/',
            '/sql',
            '/livez',
            '/readyz',
            '/metrics',
            '/',
            '',
            'http://127.0.0.1/state/bank/',
            '*',
          ),
          segment,
          fc.constantFrom('', '/events', '/state', '/x', '/'),
        )
        .map((p) => p.join('')),
      fc.array(segment, { maxLength: 6 }).map((s) => '/' + s.join('/')),
      fc.integer({ min: 3000, max: 20_000 }).map((n) => `/state/bank/${'a'.repeat(n)}`),
      fc.string({ unit: 'binary', maxLength: 40 }),
    ),
    query,
  )
  .map(([path, q]) => (q === undefined ? path : `${path}?${q}`))

const method = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('GET', 'HEAD', 'POST') },
  {
    weight: 2,
    arbitrary: fc.constantFrom('PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'PROPFIND'),
  },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z]{1,12}$/) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }) },
)

const command = (padding: number) =>
  JSON.stringify({ aggregateId: 'acc-1', type: 'Deposit', payload: { amount: 1, pad: 'p'.repeat(padding) } })
const body = fc.oneof(
  fc.constant(Buffer.alloc(0)),
  fc.integer({ min: 0, max: LIMIT + 200 }).map((n) => Buffer.from(command(n))),
  fc.constantFrom(
    Buffer.from(JSON.stringify({ topologies: ['bank'], query: 'SELECT count(*) AS n FROM events' })),
    Buffer.from(JSON.stringify({ topologies: ['bank'], query: "COPY (SELECT 1) TO '/tmp/x'" })),
    Buffer.from('{"aggregateId":"racc-1","type":"Deposit"}'),
    Buffer.from('{"aggregateId":"\\u0000","type":"X","commandId":""}'),
  ),
  fc.json({ maxDepth: 3 }).map((j) => Buffer.from(j)),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.integer({ min: LIMIT - 16, max: LIMIT * 3 }).map((n) => Buffer.alloc(n, 0x7b)),
)

const authorization = fc.constantFrom(
  undefined,
  `Bearer ${TOKENS.read}`,
  `Bearer ${TOKENS.write}`,
  `Bearer ${TOKENS.admin}`,
  'Bearer not-a-token-of-this-worker',
  `Basic ${TOKENS.admin}`,
  'Bearer',
  '',
)
const header = fc.tuple(fc.stringMatching(/^[A-Za-z0-9-]{1,20}$/), fc.string({ maxLength: 60 }))
const framing = fc.constantFrom(
  'length',
  'length',
  'chunked',
  'none',
  'truncated',
  'lying',
  'hangup',
  'reset',
)

/** Anything at all. */
const wild = fc.record({
  method,
  target,
  authorization,
  contentType: fc.constantFrom(
    undefined,
    'application/json',
    'text/plain',
    'application/x+json; charset=utf-8',
    '\u00ff',
  ),
  expect: fc.constantFrom(undefined, undefined, undefined, undefined, '100-continue', 'bogus'),
  headers: fc.array(header, { maxLength: 4 }),
  body,
  framing,
  pieces: fc.integer({ min: 1, max: 4 }),
})

/** Requests a client of the API would send, with the odd wrong part: they get past the gate to the routes. */
const plausible = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'POST'),
  target: fc
    .tuple(
      fc.oneof(
        fc.constantFrom(
          '/state/bank/acc-1',
          '/state/bank/racc-1',
          '/aggregates/bank/acc-1/events',
          '/aggregates/bank/racc-1/state',
          '/events/bank',
          '/views/totals/k1',
          '/views/totals/rk1',
          '/views/totals',
          '/commands/bank',
          '/commands/nope',
          '/sql',
          '/livez',
          '/readyz',
          '/metrics',
        ),
        segment.map((x) => `/state/bank/${x}`),
        segment.map((x) => `/views/totals/${x}`),
      ),
      query,
    )
    .map(([path, q]) => (q === undefined ? path : `${path}?${q}`)),
  authorization: fc.constantFrom(
    `Bearer ${TOKENS.read}`,
    `Bearer ${TOKENS.write}`,
    `Bearer ${TOKENS.admin}`,
    undefined,
  ),
  contentType: fc.constantFrom(undefined, 'application/json'),
  expect: fc.constant(undefined),
  headers: fc.constant([] as [string, string][]),
  body,
  framing: fc.constantFrom('length', 'chunked'),
  pieces: fc.integer({ min: 1, max: 3 }),
})

const request = fc.oneof(wild, plausible)

type Request = typeof wild extends fc.Arbitrary<infer R> ? R : never

/** The bytes of a request, in `pieces` parts, and whether the client half-closes (or resets) after them. */
function bytesOf(r: Request): { parts: Buffer[]; end: boolean; reset: boolean } {
  const headers: [string, string][] = [['host', '127.0.0.1']]
  if (r.authorization !== undefined) headers.push(['authorization', r.authorization])
  if (r.contentType !== undefined) headers.push(['content-type', r.contentType])
  if (r.expect !== undefined) headers.push(['expect', r.expect])
  headers.push(...r.headers)
  let payload = r.body
  if (r.framing === 'length' || r.framing === 'hangup' || r.framing === 'reset')
    headers.push(['content-length', String(r.body.length)])
  else if (r.framing === 'truncated') {
    headers.push(['content-length', String(r.body.length + 10)])
  } else if (r.framing === 'lying') {
    headers.push(['content-length', String(Math.max(0, r.body.length - 5))])
  } else if (r.framing === 'chunked') {
    headers.push(['transfer-encoding', 'chunked'])
    const step = Math.max(1, Math.ceil(r.body.length / r.pieces))
    const chunks: Buffer[] = []
    for (let i = 0; i < r.body.length; i += step) {
      const c = r.body.subarray(i, i + step)
      chunks.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'))
    }
    chunks.push(Buffer.from('0\r\n\r\n'))
    payload = Buffer.concat(chunks)
  }
  headers.push(['connection', 'close'])
  const head = Buffer.from(
    `${r.method} ${r.target} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`,
    'utf8',
  )
  const all = Buffer.concat([head, payload])
  const parts: Buffer[] = []
  const step = Math.max(1, Math.ceil(all.length / r.pieces))
  for (let i = 0; i < all.length; i += step) parts.push(all.subarray(i, i + step))
  return { parts, end: r.framing === 'truncated' || r.framing === 'hangup', reset: r.framing === 'reset' }
}

/** The answer is one well-formed response; a 4xx (or a 5xx but for the probes' text) is JSON with a code. */
function check(r: Request, result: RawResult, statuses: Map<number, number>): void {
  const mayGoUnanswered = r.framing === 'hangup' || r.framing === 'reset'
  if (result.response === undefined) {
    // Only a client that went away may get nothing; a half-written answer is never fine.
    expect(
      mayGoUnanswered && result.bytes.length === 0,
      `${result.problem}: ${result.bytes.toString('latin1').slice(0, 200)}`,
    ).toBe(true)
    return
  }
  const { status, headers, body } = result.response
  statuses.set(status, (statuses.get(status) ?? 0) + 1)
  expect(status).toBeGreaterThanOrEqual(100)
  expect(status).toBeLessThan(600)
  if (status < 400) return
  const path = r.target.split('?')[0]!
  if (status >= 500 && (path === '/readyz' || path === '/metrics')) return
  expect(
    headers['content-type'],
    `${status} for ${r.method} ${JSON.stringify(r.target.slice(0, 80))}`,
  ).toMatch(/^application\/json/)
  if (r.method === 'HEAD' && headers['content-length'] !== '0' && body.length === 0) return // no body to a HEAD
  const parsed = JSON.parse(body.toString('utf8')) as { code?: unknown; error?: unknown }
  expect(typeof parsed.code, body.toString('utf8').slice(0, 200)).toBe('string')
  expect(typeof parsed.error).toBe('string')
}

describe('HTTP fuzz', () => {
  it('never crashes the worker: every answer a well-formed response, every 4xx JSON with a code', async () => {
    const statuses = new Map<number, number>()
    const started = Date.now()
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const { parts, end, reset } = bytesOf(r)
        const result = await rawRequest(port, parts, {
          end,
          head: r.method === 'HEAD',
          timeoutMs: reset ? 50 : 4000,
        })
        check(r, result, statuses)
      }),
      { numRuns: Number(process.env.HTTP_FUZZ_RUNS ?? 300), interruptAfterTimeLimit: 50_000 },
    )
    if (process.env.HTTP_FUZZ_RUNS) console.log(JSON.stringify([...statuses].sort((a, b) => a[0] - b[0])))
    // Still alive and answering, on both workers.
    for (const url of [fuzzed.url, owner.url]) expect((await fetch(`${url}/livez`)).status).toBe(200)
    const ok = await fetch(`${fuzzed.url}/state/bank/racc-1`, {
      headers: { authorization: `Bearer ${TOKENS.read}` },
    })
    expect([200, 404]).toContain(ok.status)
    // The fuzz reached past the front gate, not only its refusals.
    const seen = [...statuses.keys()]
    expect(
      seen.some((s) => s >= 200 && s < 300),
      JSON.stringify([...statuses]),
    ).toBe(true)
    for (const s of [400, 401, 403, 404, 405, 413]) expect(seen, JSON.stringify([...statuses])).toContain(s)
    expect(Date.now() - started).toBeLessThan(50_000)
  }, 60_000)
})
