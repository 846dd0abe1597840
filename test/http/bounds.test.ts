/**
 * Bounded HTTP input (src/http/guard.ts and the routes' body reads) over a worker's real routes, at the byte level:
 * every refusal is a JSON `{ error, code }` with its status: 413 (declared or read beyond http.maxBodyBytes; the
 * connection closed after it), 414, 431, 400 (malformed percent-encoding, bytes that are not UTF-8, a target that is
 * not a path, malformed HTTP, a body cut short), 405 (other methods, unknown ones, CONNECT), 417, 408 (slow headers,
 * a slow body), 429 (http.maxConcurrent; probes still answered). POST /sql is behind `read`.
 */
import type { AddressInfo } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { tokenDigest } from '../../src/config/http-credentials.ts'
import { head, rawRequest, type RawResult } from './raw-http.ts'
import { workerHttp, type Fixture } from './worker-http.fixture.ts'

const LIMIT = 4096
const fixtures: Fixture[] = []
afterAll(() => Promise.all(fixtures.map((f) => f.close())))

async function worker(o: Parameters<typeof workerHttp>[0]) {
  const f = await workerHttp(o)
  fixtures.push(f)
  return { ...f, port: (f.server.address() as AddressInfo).port }
}

/** The answer is a JSON error with this status and code. */
function refused(r: RawResult, status: number, code: string): Record<string, unknown> {
  expect(r.problem, r.bytes.toString('latin1').slice(0, 300)).toBeUndefined()
  expect(r.response!.status, r.response!.body.toString()).toBe(status)
  expect(r.response!.headers['content-type']).toMatch(/^application\/json/)
  const body = JSON.parse(r.response!.body.toString('utf8')) as Record<string, unknown>
  expect(body.code).toBe(code)
  expect(typeof body.error).toBe('string')
  return body
}

const command = JSON.stringify({ aggregateId: 'acc-1', type: 'Deposit', payload: { amount: 1 } })
const json = { 'content-type': 'application/json' }

describe('bounded HTTP input', async () => {
  const w = await worker({ limits: { maxBodyBytes: LIMIT, maxUrlBytes: 1024 } })

  it('413: a declared body above http.maxBodyBytes at once; a chunked one once read beyond it, then the connection closes', async () => {
    const declared = await rawRequest(w.port, [
      head('POST', '/commands/bank', { ...json, 'content-length': LIMIT + 1 }),
    ])
    expect(refused(declared, 413, 'body_too_large').error).toMatch(/http\.maxBodyBytes/)
    // A body that says nothing of its size: read up to the bound, then refused; nothing more is kept.
    const big = 'x'.repeat(LIMIT + 100)
    const chunked = await rawRequest(
      w.port,
      [
        head('POST', '/commands/bank', { ...json, 'transfer-encoding': 'chunked' }),
        `${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`,
      ],
      { timeoutMs: 3000, untilClose: true },
    )
    refused(chunked, 413, 'body_too_large')
    expect(chunked.response!.headers.connection).toBe('close')
    expect(chunked.closed).toBe(true)
    expect(w.sent).toEqual([])
    // The same on POST /sql (whose own bound is 64 KiB at most, and never above http.maxBodyBytes).
    const sql = await rawRequest(w.port, [
      head('POST', '/sql', { ...json, 'transfer-encoding': 'chunked' }),
      `${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`,
    ])
    refused(sql, 413, 'body_too_large')
    // At the bound: taken (and refused for what it is, not for its size).
    const atBound = `{"aggregateId":"acc-1","type":"Deposit","payload":"${'y'.repeat(LIMIT - 60)}"}`
    expect(Buffer.byteLength(atBound)).toBeLessThanOrEqual(LIMIT)
    const ok = await rawRequest(w.port, [
      head('POST', '/commands/bank', { ...json, 'content-length': atBound.length, connection: 'close' }),
      atBound,
    ])
    expect(ok.response?.status).toBe(200)
  })

  it('414 beyond http.maxUrlBytes; 431 beyond the 16 KiB of headers Node takes', async () => {
    refused(await rawRequest(w.port, [head('GET', `/state/bank/${'a'.repeat(1100)}`)]), 414, 'uri_too_long')
    refused(
      await rawRequest(w.port, [head('GET', `/state/bank/${'a'.repeat(20_000)}`)]),
      431,
      'headers_too_large',
    )
    refused(
      await rawRequest(w.port, [head('GET', '/livez', { 'x-big': 'b'.repeat(20_000) })]),
      431,
      'headers_too_large',
    )
  })

  it('400: malformed percent-encoding or non-UTF-8 bytes in the path, a target that is not a path, malformed HTTP', async () => {
    for (const target of [
      '/state/bank/%ZZ',
      '/livez%',
      '/views/totals/%C3%28',
      '/events/%FF',
      '/nope/%E0%A4%A',
    ])
      refused(await rawRequest(w.port, [head('GET', target)]), 400, 'bad_path')
    for (const target of ['http://127.0.0.1/state/bank/acc-1', '*'])
      refused(await rawRequest(w.port, [head('GET', target)]), 400, 'bad_request')
    // A NUL byte, a space inside the target, a header without a colon: the parser refuses them.
    for (const bytes of [
      'GET /state/bank/a\0b HTTP/1.1\r\nhost: x\r\n\r\n',
      'GET /a b c HTTP/1.1\r\n\r\n',
      'GET / HTTP/1.1\r\nbroken\r\n\r\n',
    ])
      refused(await rawRequest(w.port, [bytes]), 400, 'bad_request')
    // Both framings at once (request smuggling's classic): refused.
    refused(
      await rawRequest(w.port, [
        head('POST', '/commands/bank', { 'content-length': 5, 'transfer-encoding': 'chunked' }),
        '0\r\n\r\n',
      ]),
      400,
      'bad_request',
    )
    // A body cut short by the client: a 400, the command never sent.
    const before = w.sent.length
    const cut = await rawRequest(
      w.port,
      [head('POST', '/commands/bank', { ...json, 'content-length': 500 }), command.slice(0, 20)],
      {
        end: true,
      },
    )
    refused(cut, 400, 'bad_request')
    expect(w.sent).toHaveLength(before)
  })

  it('405: other methods, unknown ones, CONNECT; GET on a POST route and POST on a GET route', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND']) {
      const r = await rawRequest(w.port, [head(method, '/state/bank/acc-1')])
      refused(r, 405, 'method_not_allowed')
      expect(r.response!.headers.allow).toBe('GET, HEAD, POST')
    }
    refused(
      await rawRequest(w.port, ['FROB /state/bank/acc-1 HTTP/1.1\r\nhost: x\r\n\r\n']),
      405,
      'method_not_allowed',
    )
    refused(
      await rawRequest(w.port, ['CONNECT example.com:443 HTTP/1.1\r\nhost: example.com\r\n\r\n']),
      405,
      'method_not_allowed',
    )
    refused(await rawRequest(w.port, [head('GET', '/commands/bank')]), 405, 'method_not_allowed')
    refused(await rawRequest(w.port, [head('GET', '/sql')]), 405, 'method_not_allowed')
    refused(
      await rawRequest(w.port, [head('POST', '/metrics', { 'content-length': 0 })]),
      405,
      'method_not_allowed',
    )
    refused(await rawRequest(w.port, [head('GET', '/nope')]), 404, 'not_found')
  })

  it('417 for an Expect other than 100-continue; 100-continue works', async () => {
    refused(
      await rawRequest(w.port, [head('GET', '/livez', { expect: 'something' })]),
      417,
      'expectation_failed',
    )
    const cont = await rawRequest(
      w.port,
      [
        head('POST', '/commands/bank', { ...json, expect: '100-continue', 'content-length': command.length }),
        command,
      ],
      { pauseMs: 50 },
    )
    // The interim 100 comes first; the parser here reads it as the answer.
    expect(cont.response?.status).toBe(100)
  })
})

describe('timeouts', async () => {
  const w = await worker({ limits: { headersTimeoutMs: 200, requestTimeoutMs: 400 } })

  it('408 when the headers do not come in within http.headersTimeoutMs, or the body within http.requestTimeoutMs', async () => {
    const started = Date.now()
    const slowHeaders = await rawRequest(w.port, ['GET /state/bank/acc-1 HTTP/1.1\r\nhost: x\r\n'], {
      timeoutMs: 3000,
    })
    refused(slowHeaders, 408, 'request_timeout')
    expect(slowHeaders.response!.headers.connection).toBe('close')
    const slowBody = await rawRequest(
      w.port,
      [head('POST', '/commands/bank', { ...json, 'content-length': 1000 }), command.slice(0, 10)],
      { timeoutMs: 3000, untilClose: true },
    )
    refused(slowBody, 408, 'request_timeout')
    expect(slowBody.response!.headers.connection).toBe('close')
    expect(slowBody.closed).toBe(true) // the slow body is cut
    expect(Date.now() - started).toBeLessThan(3000)
    expect(w.sent).toEqual([])
    // The server is fine afterwards.
    expect((await fetch(`${w.url}/livez`)).status).toBe(200)
  })
})

describe('concurrency', async () => {
  let release!: () => void
  const held = new Promise<void>((r) => (release = r))
  const w = await worker({ limits: { maxConcurrent: 2 }, beforeReply: () => held })

  it('429 with Retry-After beyond http.maxConcurrent requests in progress; probes are still answered; then served again', async () => {
    const post = () =>
      fetch(`${w.url}/commands/bank`, { method: 'POST', headers: json, body: command }).then((r) => r.status)
    const inProgress = [post(), post()]
    for (let i = 0; i < 100 && w.sent.length < 2; i++) await new Promise((r) => setTimeout(r, 10))
    expect(w.sent).toHaveLength(2)
    const third = await fetch(`${w.url}/state/bank/acc-1`)
    expect(third.status).toBe(429)
    expect(third.headers.get('retry-after')).toBe('1')
    expect(await third.json()).toMatchObject({ code: 'too_many_requests', retryAfterMs: 1000 })
    expect((await fetch(`${w.url}/livez`)).status).toBe(200)
    expect((await fetch(`${w.url}/readyz`)).status).toBe(200)
    release()
    expect(await Promise.all(inProgress)).toEqual([200, 200])
    expect((await fetch(`${w.url}/state/bank/acc-1`)).status).toBe(200)
  })
})

describe('POST /sql', async () => {
  const reader = 'sql-reader-token-0123456789'
  const writer = 'sql-writer-token-0123456789'
  const w = await worker({
    auth: {
      tokens: [
        { name: 'r', permissions: ['read'], sha256: tokenDigest(reader) },
        { name: 'w', permissions: ['write'], sha256: tokenDigest(writer) },
      ],
    },
  })

  it('needs the read permission (write alone is 403), and stays read-only', async () => {
    const q = (token: string | undefined, query: string) =>
      fetch(`${w.url}/sql`, {
        method: 'POST',
        headers: { ...json, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ topologies: ['bank'], query }),
      })
    expect((await q(undefined, 'SELECT 1 AS n')).status).toBe(401)
    // Expect: 100-continue without credentials: refused before the body is asked for (no 100 Continue first).
    const early = await rawRequest((w.server.address() as AddressInfo).port, [
      head('POST', '/sql', { ...json, expect: '100-continue', 'content-length': 10 }),
    ])
    refused(early, 401, 'unauthenticated')
    expect((await q(writer, 'SELECT 1 AS n')).status).toBe(403)
    expect((await q(reader, 'SELECT 1 AS n')).status).toBe(200)
    const write = await q(reader, "COPY (SELECT 1) TO '/tmp/kd-sql-escape.csv'")
    expect(write.status).toBe(400)
    expect(await write.json()).toMatchObject({ code: 'invalid_query' })
  })
})
