/**
 * docs/openapi.yaml against the server: it parses as OpenAPI 3.1, its paths are exactly the routes the server
 * serves (HTTP_ROUTES), a server with every feature on answers each route with a status the document lists, the
 * command and SQL body schemas are the ones the routes validate with (zod's JSON Schemas of commandRequestSchema and
 * sqlRequestSchema), and the
 * documented statuses of POST /commands cover the reply statuses' mapping.
 */
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { parse } from 'yaml'
import { z } from 'zod'
import { afterAll, describe, expect, it } from 'vitest'
import { REPLY_STATUSES } from '../../src/domain/envelopes.ts'
import { commandRequestSchema, HTTP_STATUS_OF_REPLY } from '../../src/http/commands.ts'
import { tokenDigest } from '../../src/config/http-credentials.ts'
import { httpAuth } from '../../src/http/auth.ts'
import { HTTP_ROUTES } from '../../src/http/routes.ts'
import { startHttp } from '../../src/http/server.ts'
import { sqlRequestSchema, sqlRoute } from '../../src/http/sql.ts'
import { fromDecider } from '../../src/topology/loader.ts'
import bank from '../../topologies/bank-account.ts'
import { createMetrics } from '../../src/metrics/metrics.ts'
import { ROOT } from '../cli/run-cli.ts'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { catalogQuery, consoleFiles } from '../../src/http/console.ts'
import { clusterQuery } from '../../src/http/cluster.ts'

interface Operation {
  responses: Record<string, unknown>
  requestBody?: unknown
}
interface Doc {
  openapi: string
  info: { version: string }
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, Record<string, unknown>> }
}

const doc = parse(readFileSync(path.join(ROOT, 'docs/openapi.yaml'), 'utf8')) as Doc
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options']

const consoleDir = mkdtempSync(path.join(tmpdir(), 'openapi-console-'))
writeFileSync(path.join(consoleDir, 'index.html'), '<!doctype html><title>console</title>')
writeFileSync(path.join(consoleDir, 'app.js'), 'export {}')
const deadLetter = {
  partition: 0,
  offset: '5',
  timestamp: '1767225600000',
  key: Buffer.from('acc/1'),
  value: Buffer.from(JSON.stringify({ commandId: 'c1', type: 'Deposit', payload: { amount: 1 } })),
  headers: { 'content-type': 'application/json', 'kd-error-code': 'misrouted', 'kd-error-message': 'x' },
}

describe('docs/openapi.yaml', async () => {
  const server = await startHttp({
    consoleFiles: consoleFiles(consoleDir),
    catalog: catalogQuery({
      topologies: [fromDecider(bank, { name: 'bank' })],
      projections: [],
      commands: true,
    }),
    cluster: clusterQuery({
      groups: [{ name: 'bank', kind: 'topology', partitions: 1 }],
      local: async () => ({ url: 'http://w1:1', ready: true, at: 0, groups: [] }),
      owners: () => undefined,
      self: () => 'http://w1:1',
      timeoutMs: 1000,
    }),
    deadLetters: {
      topologies: [{ name: 'bank', commands: 'bank.commands', deadLetters: 'bank.dlq' }],
      store: {
        list: async () => ({ records: [deadLetter], partitions: [{ partition: 0, start: '0', end: '6' }] }),
        one: async (_t, p, o) => (p === 0 && o === 5n ? deadLetter : undefined),
      },
      replay: async () => ({ sentTo: { topic: 'bank.commands', partition: 0, offset: '9' } }),
    },
    host: '127.0.0.1',
    port: 0,
    registry: createMetrics().registry,
    readiness: () => ({ ready: true }),
    state: async (_t, aggregateId) => ({
      status: 200,
      body: { partition: 0, aggregateId, version: 1, state: {} },
    }),
    events: {
      aggregateEvents: async (_t, aggregateId) => ({
        status: 200,
        body: { partition: 0, aggregateId, events: [] },
      }),
      allEvents: async () => ({
        status: 200,
        body: { events: [], next: 'p1.', partitions: [0], notServed: [] },
      }),
    },
    asOf: async (_t, aggregateId) => ({
      status: 200,
      body: { partition: 0, aggregateId, version: 0, state: {}, included: 0, total: 0, asOf: {} },
    }),
    views: {
      view: async (projection, key) => ({
        status: 200,
        body: { projection, key, view: { n: 1 }, partition: 0 },
      }),
      list: async (projection) => ({ status: 200, body: { projection, views: [] } }),
    },
    sql: sqlRoute({
      sources: [fromDecider(bank, { name: 'bank' })],
      topics: { missing: async () => [], read: async () => undefined },
      timeoutMs: 10_000,
      maxRows: 10,
    }),
    frontDoor: {
      self: 'http://w1:1',
      commands: {
        topologies: ['bank'],
        send: async (_t, cmd) => ({ ...cmd, status: 'accepted', version: 1, events: [] }),
      },
    },
  })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  afterAll(() => new Promise<void>((r) => server.close(() => r())))

  it('is OpenAPI 3.1 and documents exactly the routes the server serves', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/)
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }
    expect(doc.info.version, "info.version is the package's").toBe(pkg.version)
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops)
        .filter((m) => METHODS.includes(m))
        .map((m) => `${m.toUpperCase()} ${p}`),
    )
    expect(documented.sort()).toEqual(HTTP_ROUTES.map((r) => `${r.method} ${r.path}`).sort())
  })

  it('the server answers every route with a status the document lists for it', async () => {
    for (const route of HTTP_ROUTES) {
      const url =
        base +
        route.path
          .replace('{topology}', 'bank')
          .replace('{aggregateId}', 'acc%2F1')
          .replace('{projection}', 'totals')
          .replace('{key}', 'day%2F1')
          .replace('{file}', 'app.js')
          .replace('{partition}', '0')
          .replace('{offset}', '5')
      const r = await fetch(url, {
        method: route.method,
        ...(route.method === 'POST'
          ? {
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(
                route.path === '/sql'
                  ? { topologies: ['bank'], query: 'SELECT count(*) AS n FROM events' }
                  : route.path.endsWith('/replay')
                    ? { records: [{ partition: 0, offset: '5' }] }
                    : { aggregateId: 'acc/1', type: 'Deposit', payload: { amount: 1 } },
              ),
            }
          : {}),
      })
      const op = doc.paths[route.path]![route.method.toLowerCase()]!
      expect(Object.keys(op.responses), `${route.method} ${route.path}`).toContain(String(r.status))
      expect(r.status, `${route.method} ${route.path}`).toBe(200)
    }
  })

  it('documents the security schemes, and the refusals of auth and bounds on every route as the server gives them', async () => {
    const schemes = (doc.components as { securitySchemes?: Record<string, Record<string, string>> })
      .securitySchemes
    expect(schemes?.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' })
    expect(schemes?.mutualTLS).toMatchObject({ type: 'mutualTLS' })
    const open = ['/livez', '/readyz', '/metrics']
    // The console's files hold no data: open even with http.auth (no 401, no 403).
    const assets = ['/console/', '/console/{file}']
    for (const route of HTTP_ROUTES) {
      if (assets.includes(route.path)) {
        const op = doc.paths[route.path]!.get!
        expect((op as { security?: unknown }).security, route.path).toEqual([{}])
        continue
      }
      const codes = Object.keys(doc.paths[route.path]![route.method.toLowerCase()]!.responses)
      const name = `${route.method} ${route.path}`
      expect(codes, name).toEqual(expect.arrayContaining(['401', '414']))
      if (!open.includes(route.path)) expect(codes, name).toEqual(expect.arrayContaining(['403', '429']))
      if (route.method === 'POST') expect(codes, name).toEqual(expect.arrayContaining(['413']))
    }
    // A server with tokens (and its probes and metrics protected) answers each route without one, and with a token
    // of the other permission, with a status the document lists.
    const reader = 'openapi-reader-token-0123456789'
    const writer = 'openapi-writer-token-0123456789'
    const guarded = await startHttp({
      host: '127.0.0.1',
      port: 0,
      registry: createMetrics().registry,
      readiness: () => ({ ready: true }),
      auth: httpAuth({
        tokens: [
          { name: 'r', permissions: ['read'], sha256: tokenDigest(reader) },
          { name: 'w', permissions: ['write'], sha256: tokenDigest(writer) },
        ],
        protectHealth: true,
        protectMetrics: true,
      }),
      limits: { maxUrlBytes: 300 },
    })
    const at = `http://127.0.0.1:${(guarded.address() as AddressInfo).port}`
    try {
      for (const path of ['/console/', '/console/app.js']) {
        const r = await fetch(at + path)
        // Past the guard without credentials (not 401): this server has no console files, so 404.
        expect(r.status, path).toBe(404)
      }
      for (const route of HTTP_ROUTES) {
        if (assets.includes(route.path)) continue
        const op = doc.paths[route.path]![route.method.toLowerCase()]!
        const path = route.path.replace(/\{[^}]+\}/g, 'x')
        const none = await fetch(at + path, { method: route.method })
        expect(none.status, `${route.method} ${route.path}`).toBe(401)
        const other = await fetch(at + path, {
          method: route.method,
          headers: {
            authorization: `Bearer ${route.method === 'POST' && path !== '/sql' ? reader : writer}`,
          },
        })
        if (!open.includes(route.path)) {
          expect(other.status, `${route.method} ${route.path}`).toBe(403)
          expect(Object.keys(op.responses)).toContain('403')
        }
        const long = await fetch(at + path + '?' + 'q'.repeat(400), { method: route.method })
        expect(long.status).toBe(414)
      }
    } finally {
      await new Promise<void>((r) => guarded.close(() => r()))
    }
  })

  it("the command body schema is the route's own (zod's JSON Schema of commandRequestSchema)", () => {
    const { $schema: _s, ...fromZod } = z.toJSONSchema(commandRequestSchema, {
      target: 'draft-2020-12',
      io: 'input',
    })
    expect(doc.components.schemas.CommandRequest).toEqual(fromZod)
  })

  it("the SQL body schema is the route's own (zod's JSON Schema of sqlRequestSchema)", () => {
    const { $schema: _s, ...fromZod } = z.toJSONSchema(sqlRequestSchema, {
      target: 'draft-2020-12',
      io: 'input',
    })
    expect(doc.components.schemas.SqlRequest).toEqual(fromZod)
  })

  it('POST /commands documents the HTTP status of every reply status, and the reply status enum is complete', () => {
    const responses = Object.keys(doc.paths['/commands/{topology}']!.post!.responses)
    for (const status of REPLY_STATUSES)
      expect(responses, status).toContain(String(HTTP_STATUS_OF_REPLY[status]))
    for (const code of ['400', '404', '405', '413', '415', '503', '504']) expect(responses).toContain(code)
    const reply = doc.components.schemas.Reply!.properties as Record<string, { enum?: string[] }>
    expect(reply.status!.enum).toEqual([...REPLY_STATUSES])
  })

  it('every $ref resolves', () => {
    const text = readFileSync(path.join(ROOT, 'docs/openapi.yaml'), 'utf8')
    const refs = [...text.matchAll(/\$ref: '#\/([^']+)'/g)].map((m) => m[1]!)
    expect(refs.length).toBeGreaterThan(10)
    for (const ref of refs) {
      let node: unknown = doc
      for (const part of ref.split('/')) node = (node as Record<string, unknown> | undefined)?.[part]
      expect(node, ref).toBeDefined()
    }
  })
})
