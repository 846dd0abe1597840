/**
 * POST /sql over in-memory topics (no broker): rows as JSON, the row limit (truncated), read-only (one SELECT or
 * WITH), the errors as JSON with their codes, one query at a time, the time limit, and 404 sql_disabled when the
 * route is off.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { sqlRoute, type SqlRouteOptions } from '../../src/http/sql.ts'
import { startHttp } from '../../src/http/server.ts'
import { createMetrics } from '../../src/metrics/metrics.ts'
import { bankTopics, topology } from './fixtures.ts'

const servers: Server[] = []
afterAll(async () => {
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()))
})

async function serve(o: Partial<SqlRouteOptions> | undefined): Promise<string> {
  const server = await startHttp({
    host: '127.0.0.1',
    port: 0,
    registry: createMetrics().registry,
    readiness: () => ({ ready: true }),
    ...(o === undefined
      ? {}
      : {
          sql: sqlRoute({ sources: [topology], topics: bankTopics(), timeoutMs: 5000, maxRows: 100, ...o }),
        }),
  })
  servers.push(server)
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/sql`
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: r.status, headers: r.headers, body: (await r.json()) as Record<string, any> }
}

describe('POST /sql', () => {
  it('answers the rows as JSON, with the columns and the tables loaded; cuts at maxRows', async () => {
    const url = await serve({ maxRows: 2 })
    const q = (query: string) => post(url, { topologies: ['bank-account'], query })
    const counts = await q(
      "SELECT type, count(*) AS n, sum((payload->>'amount')::INT) AS total FROM events GROUP BY type ORDER BY n DESC, type LIMIT 2",
    )
    expect(counts.status).toBe(200)
    expect(counts.body).toEqual({
      columns: [
        { name: 'type', type: 'VARCHAR' },
        { name: 'n', type: 'BIGINT' },
        { name: 'total', type: 'HUGEINT' },
      ],
      rows: [
        { type: 'MoneyDeposited', n: 3, total: 157 },
        { type: 'AccountCreated', n: 2, total: null },
      ],
      rowCount: 2,
      truncated: false,
      tables: [
        { table: 'bank-account_events', topic: 'bank-account.events', rows: 6 },
        { table: 'bank-account_snapshots', topic: 'bank-account-snapshots-changelog', rows: 2 },
      ],
    })
    const cut = await q(
      'WITH e AS (SELECT * FROM events) SELECT event_id, event_time, payload FROM e ORDER BY "offset"',
    )
    expect(cut.body).toMatchObject({
      rows: [
        { event_id: 'a@1', event_time: '2026-03-01T10:00:00.000Z', payload: { owner: 'Ada' } },
        { event_id: 'a@2', event_time: '2026-03-02T10:00:00.000Z', payload: { amount: 100, balance: 100 } },
      ],
      rowCount: 2,
      truncated: true,
    })
  })

  it('refuses anything but one SELECT, and bad queries, with 400 and the tables listed', async () => {
    const url = await serve({})
    for (const query of [
      'DELETE FROM events',
      'SELECT 1; SELECT 2',
      "COPY events TO 'x.csv'",
      'SELECT nope FROM events',
    ]) {
      const r = await post(url, { topologies: ['bank-account'], query })
      expect(r.status, query).toBe(400)
      expect(r.body.code, query).toBe('invalid_query')
      expect(r.body.error, query).toContain('"bank-account_events" (also events): partition INTEGER')
    }
    const files = await post(url, {
      topologies: ['bank-account'],
      query: "SELECT * FROM read_text('/etc/hostname')",
    })
    expect(files.body).toMatchObject({
      code: 'invalid_query',
      error: expect.stringMatching(/disabled by configuration/),
    })
  })

  it('errors: body, media type, method, unknown topology, too many rows, missing topic; all JSON with a code', async () => {
    const url = await serve({ maxLoadRows: 3 })
    expect((await post(url, 'not json')).body.code).toBe('invalid_body')
    expect((await post(url, { query: 'SELECT 1' })).body.code).toBe('invalid_body')
    expect((await post(url, { topologies: ['x'], query: 'SELECT 1', extra: 1 })).status).toBe(400)
    const media = await post(
      url,
      { topologies: ['bank-account'], query: 'SELECT 1' },
      { 'content-type': 'text/plain' },
    )
    expect([media.status, media.body.code]).toEqual([415, 'unsupported_media_type'])
    const get = await fetch(url)
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST'])
    const unknown = await post(url, { topologies: ['nope'], query: 'SELECT 1' })
    expect([unknown.status, unknown.body.code]).toEqual([404, 'unknown_topology'])
    expect(unknown.body.error).toContain('it runs: bank-account')
    const big = await post(url, { topologies: ['bank-account'], query: 'SELECT 1' })
    expect([big.status, big.body.code]).toEqual([422, 'too_many_rows'])

    const missing = bankTopics()
    missing.topics.delete(topology.topics.changelog)
    const gone = await post(await serve({ topics: missing }), {
      topologies: ['bank-account'],
      query: 'SELECT 1',
    })
    expect([gone.status, gone.body.code]).toEqual([503, 'read_failed'])
    expect(gone.body.error).toMatch(
      /topic bank-account-snapshots-changelog \(of table bank-account_snapshots\) does not exist/,
    )
  })

  it('one query at a time (429 sql_busy), bounded by the time limit (504 sql_timeout)', async () => {
    const slow = bankTopics()
    let reading = false
    slow.read = async (_t, _onChunk, o) => {
      reading = true
      while (!o.signal.aborted) await new Promise((r) => setTimeout(r, 20))
    }
    const url = await serve({ topics: slow, timeoutMs: 2_000 })
    const body = { topologies: ['bank-account'], query: 'SELECT 1' }
    const first = post(url, body)
    // The second asks while the first is being served (not after a fixed pause, which a loaded machine outlasts).
    for (let i = 0; i < 200 && !reading; i++) await new Promise((r) => setTimeout(r, 5))
    expect(reading).toBe(true)
    const second = await post(url, body)
    expect([second.status, second.body.code, second.headers.get('retry-after')]).toEqual([
      429,
      'sql_busy',
      '1',
    ])
    const timedOut = await first
    expect([timedOut.status, timedOut.body.code]).toEqual([504, 'sql_timeout'])
    expect(timedOut.body.error).toMatch(/did not finish within the time limit of 2000 ms/)
  })

  it('404 sql_disabled when the worker does not serve SQL (http.sql false)', async () => {
    const r = await post(await serve(undefined), { topologies: ['bank-account'], query: 'SELECT 1' })
    expect([r.status, r.body.code]).toEqual([404, 'sql_disabled'])
  })
})
