/**
 * The console's routes without a broker: the dead letters (list, one, replay and how it is recorded, bad input),
 * the merge of the workers' parts into the overview, and the console's files (only its own, gzipped when asked).
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { tokenDigest } from '../../src/config/http-credentials.ts'
import { encode } from '../../src/domain/codec.ts'
import { httpAuth } from '../../src/http/auth.ts'
import { mergeCluster } from '../../src/http/cluster.ts'
import { consoleFiles } from '../../src/http/console.ts'
import type { WorkerSnapshot } from '../../src/http/console-api.ts'
import { describe as describeDeadLetter, type StoredDeadLetter } from '../../src/http/dead-letters.ts'
import { startHttp } from '../../src/http/server.ts'
import { createMetrics } from '../../src/metrics/metrics.ts'
import { parsePosition } from '../../src/cli/dlq.ts'

const stored = (
  offset: string,
  value: Buffer | null,
  extra: Record<string, string> = {},
): StoredDeadLetter => ({
  partition: 1,
  offset,
  timestamp: '1767225600000',
  key: Buffer.from('acc-1'),
  value,
  headers: {
    'content-type': 'application/msgpack',
    'kd-error-code': 'misrouted',
    'kd-error-message': 'key hashes to partition 2',
    'kd-source-topic': 'bank.commands',
    'kd-source-partition': '1',
    'kd-source-offset': '41',
    'trace-id': 't-1',
    ...extra,
  },
})
const envelope = { commandId: 'c-1', type: 'Deposit', payload: { amount: 5 }, metadata: { issuedAt: 'x' } }
const records = new Map([
  ['1:7', stored('7', encode(envelope, 'msgpack'))],
  ['1:8', stored('8', Buffer.from([0xc1, 0xff]), { 'kd-error-code': 'undecodable' })],
])
const replayed: { record: { key: Buffer | null; headers: Record<string, string> }; wait: unknown }[] = []
const WRITER = 'console-routes-writer-0123456789'
const READER = 'console-routes-reader-0123456789'

const server = await startHttp({
  host: '127.0.0.1',
  port: 0,
  registry: createMetrics().registry,
  readiness: () => ({ ready: true }),
  auth: httpAuth({
    tokens: [
      { name: 'ops', permissions: ['read', 'write'], sha256: tokenDigest(WRITER) },
      { name: 'viewer', permissions: ['read'], sha256: tokenDigest(READER) },
    ],
  }),
  deadLetters: {
    topologies: [{ name: 'bank', commands: 'bank.commands', deadLetters: 'bank.dlq' }],
    store: {
      list: async (_topic, o) => ({
        records: [...records.values()].slice(0, o.limit),
        partitions: [{ partition: 1, start: '0', end: '9' }],
      }),
      one: async (_topic, p, offset) => records.get(`${p}:${offset}`),
    },
    replay: async (_t, record, wait) => {
      replayed.push({ record, wait })
      return {
        sentTo: { topic: 'bank.commands', partition: 2, offset: '100' },
        ...(wait !== undefined
          ? {
              reply: {
                commandId: 'c-1',
                aggregateId: 'acc-1',
                status: 'accepted' as const,
                version: 3,
                events: [],
              },
            }
          : {}),
      }
    },
  },
})
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
afterAll(() => new Promise<void>((r) => server.close(() => r())))

const call = async (p: string, init: RequestInit = {}, token = WRITER) => {
  const res = await fetch(base + p, {
    ...init,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  })
  return { status: res.status, body: (await res.json()) as Record<string, any> }
}

describe('GET /dead-letters', () => {
  it('lists them decoded: reason, message, source, aggregate, the original command; an undecodable one says why', async () => {
    const r = await call('/dead-letters/bank?limit=5', {}, READER)
    expect(r.status).toBe(200)
    expect(r.body.topic).toBe('bank.dlq')
    expect(r.body.deadLetters[0]).toEqual({
      topology: 'bank',
      topic: 'bank.dlq',
      partition: 1,
      offset: '7',
      timestamp: '2026-01-01T00:00:00.000Z',
      reason: 'misrouted',
      message: 'key hashes to partition 2',
      source: { topic: 'bank.commands', partition: 1, offset: '41' },
      aggregateId: 'acc-1',
      command: { commandId: 'c-1', type: 'Deposit', payload: { amount: 5 }, metadata: { issuedAt: 'x' } },
      headers: expect.objectContaining({ 'trace-id': 't-1' }),
    })
    expect(r.body.deadLetters[1].reason).toBe('undecodable')
    expect(r.body.deadLetters[1].command).toBeUndefined()
    expect(r.body.deadLetters[1].undecodable).toMatch(/^the value does not decode/)
  })

  it('one by partition and offset; 404 for none there; bad input is a 400 naming what is wrong', async () => {
    expect((await call('/dead-letters/bank/1/7', {}, READER)).body.deadLetter.offset).toBe('7')
    const none = await call('/dead-letters/bank/1/9', {}, READER)
    expect([none.status, none.body.code]).toEqual([404, 'not_found'])
    expect((await call('/dead-letters/bank?limit=0')).body.error).toBe(
      'limit must be an integer in 1..500, got "0"',
    )
    expect((await call('/dead-letters/bank?before=x')).status).toBe(400)
    expect((await call('/dead-letters/bank/one/7')).status).toBe(400)
    const unknown = await call('/dead-letters/shop')
    expect([unknown.status, unknown.body.code]).toEqual([404, 'unknown_topology'])
    expect((await call('/dead-letters/bank/replay')).status).toBe(405) // GET of the replay path
  })
})

describe('POST /dead-letters/<topology>/replay', () => {
  it('writes the record back as it was, without the kd-* headers, with who replayed it and from where', async () => {
    replayed.length = 0
    const r = await call('/dead-letters/bank/replay', {
      method: 'POST',
      body: JSON.stringify({ records: [{ partition: 1, offset: '7' }], waitMs: 1000 }),
    })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({
      topology: 'bank',
      replayedBy: 'token ops',
      results: [
        {
          partition: 1,
          offset: '7',
          ok: true,
          sentTo: { topic: 'bank.commands', partition: 2, offset: '100' },
        },
      ],
    })
    expect(r.body.results[0].reply.status).toBe('accepted')
    expect(replayed).toHaveLength(1)
    expect(replayed[0]!.record.key).toEqual(Buffer.from('acc-1'))
    expect(replayed[0]!.record.headers).toEqual({
      'content-type': 'application/msgpack',
      'trace-id': 't-1',
      'decider-replay-of': 'bank.dlq:1:7',
      'decider-replayed-by': 'token ops',
    })
    expect(replayed[0]!.wait).toEqual({ aggregateId: 'acc-1', commandId: 'c-1', timeoutMs: 1000 })
  })

  it('some missing: 207 with each result; all missing: 404; not a replay request: 400; a reader: 403', async () => {
    replayed.length = 0
    const some = await call('/dead-letters/bank/replay', {
      method: 'POST',
      body: JSON.stringify({
        records: [
          { partition: 1, offset: 8 },
          { partition: 0, offset: '3' },
        ],
      }),
    })
    expect(some.status).toBe(207)
    expect(some.body.results.map((x: any) => [x.ok, x.error])).toEqual([
      [true, undefined],
      [false, 'no dead letter at bank.dlq:0:3'],
    ])
    expect(replayed[0]!.wait).toBeUndefined() // no waitMs, and no commandId in an undecodable value anyway
    const none = await call('/dead-letters/bank/replay', {
      method: 'POST',
      body: JSON.stringify({ records: [{ partition: 0, offset: '3' }] }),
    })
    expect(none.status).toBe(404)
    const bad = await call('/dead-letters/bank/replay', {
      method: 'POST',
      body: JSON.stringify({ records: [] }),
    })
    expect([bad.status, bad.body.code]).toEqual([400, 'invalid_body'])
    expect(bad.body.error).toContain('records')
    const reader = await call(
      '/dead-letters/bank/replay',
      { method: 'POST', body: JSON.stringify({ records: [{ partition: 1, offset: '7' }] }) },
      READER,
    )
    expect([reader.status, reader.body.code]).toEqual([403, 'forbidden'])
  })

  it('describe() takes what a dead letter without a value or headers has', () => {
    const d = describeDeadLetter(
      { name: 'bank', deadLetters: 'bank.dlq' },
      { partition: 0, offset: '1', timestamp: '0', key: null, value: null, headers: {} },
    )
    expect(d).toMatchObject({
      reason: '',
      aggregateId: '',
      source: { topic: '', partition: null, offset: null },
      undecodable: 'the record has no value',
    })
  })
})

describe('mergeCluster', () => {
  const snapshot = (url: string, partitions: number[], standby?: number): WorkerSnapshot => ({
    url,
    ready: true,
    at: 1,
    groups: [
      {
        name: 'bank',
        kind: 'topology',
        tasks: partitions.map((p) => ({ partition: p, state: 'RUNNING', lag: p })),
        standbys: standby === undefined ? [] : [{ partition: standby, lag: 3, caughtUp: false }],
        counters: { commands: { accepted: 2, rejected: 1 }, events: 2, deadLetters: 0 },
      },
    ],
  })
  it("puts each partition's owner, its task state and lag, the standbys; sums the counters; lists a silent worker", () => {
    const owners = new Map([
      [
        'bank',
        [
          { found: true as const, url: 'http://a', memberId: 'm1' },
          { found: true as const, url: 'http://b', memberId: 'm2' },
          { found: true as const, url: 'http://c', memberId: 'm3' },
          { found: false as const, code: 'no_owner' as const, reason: 'nobody' },
        ],
      ],
    ])
    const c = mergeCluster(
      'http://a',
      snapshot('http://a', [0], 1),
      [snapshot('http://b', [1]), { url: 'http://c', error: '504 forward_timeout: late' }],
      [{ name: 'bank', kind: 'topology', partitions: 4 }],
      owners,
    )
    expect(c.workers).toEqual([
      { url: 'http://a', ready: true },
      { url: 'http://b', ready: true },
      { url: 'http://c', ready: false, error: '504 forward_timeout: late' },
    ])
    expect(c.groups[0]!.partitions).toEqual([
      { partition: 0, owner: 'http://a', state: 'RUNNING', lag: 0, standbys: [] },
      {
        partition: 1,
        owner: 'http://b',
        state: 'RUNNING',
        lag: 1,
        standbys: [{ url: 'http://a', lag: 3, caughtUp: false }],
      },
      { partition: 2, owner: 'http://c', lag: null, standbys: [] },
      { partition: 3, ownerError: 'no_owner: nobody', lag: null, standbys: [] },
    ])
    expect(c.groups[0]!.counters).toEqual({
      commands: { accepted: 4, rejected: 2 },
      events: 4,
      deadLetters: 0,
    })
  })
})

describe("the console's files", () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'console-files-'))
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>c</title>')
  writeFileSync(path.join(dir, 'app.js'), 'export const x = 1\n'.repeat(50))
  const files = consoleFiles(dir)
  const empty = consoleFiles(path.join(dir, 'missing'))

  it('serves only its own files, gzipped when asked, with a CSP; /console redirects; not built says how', async () => {
    const s = await startHttp({
      host: '127.0.0.1',
      port: 0,
      registry: createMetrics().registry,
      readiness: () => ({ ready: true }),
      consoleFiles: files,
    })
    const e = await startHttp({
      host: '127.0.0.1',
      port: 0,
      registry: createMetrics().registry,
      readiness: () => ({ ready: true }),
      consoleFiles: empty,
    })
    const at = (x: typeof s) => `http://127.0.0.1:${(x.address() as AddressInfo).port}`
    try {
      const page = await fetch(`${at(s)}/console/`)
      expect(page.status).toBe(200)
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'")
      expect(await page.text()).toContain('<title>c</title>')
      const redirect = await fetch(`${at(s)}/console`, { redirect: 'manual' })
      expect([redirect.status, redirect.headers.get('location')]).toEqual([302, '/console/'])
      const gz = await fetch(`${at(s)}/console/app.js`, { headers: { 'accept-encoding': 'gzip' } })
      expect(gz.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
      expect(gz.headers.get('content-encoding')).toBe('gzip')
      for (const p of [
        '/console/..%2Fpackage.json',
        '/console/%2e%2e/x',
        '/console/nope.js',
        '/console/a/b.js',
      ])
        expect((await fetch(`${at(s)}${p}`)).status, p).toBe(404)
      const none = await fetch(`${at(e)}/console/`)
      expect(none.status).toBe(404)
      expect(await none.text()).toContain('run npm run build:console')
      const post = await fetch(`${at(s)}/console/`, { method: 'POST' })
      expect(post.status).toBe(405)
    } finally {
      await Promise.all([s, e].map((x) => new Promise<void>((r) => x.close(() => r()))))
    }
  })
})

describe('decider dlq positions', () => {
  it('are <partition>:<offset>; anything else is a usage error naming the form', () => {
    expect(parsePosition('3:17')).toEqual({ partition: 3, offset: '17' })
    for (const bad of ['3', '3:', ':1', 'a:1', '3:-1', '3:1:2'])
      expect(() => parsePosition(bad), bad).toThrow('<partition>:<offset>')
  })
})
