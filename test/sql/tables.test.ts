/**
 * The SQL tables over in-memory topic records (no broker): events (msgpack and JSON, upcast unless raw), the last
 * snapshot per aggregate (tombstones, offset markers), the last view per key (deletions, internal markers), the
 * aliases, the row bound, bad queries (named, with the tables listed, before anything is read), the read-only
 * check, and the three output formats.
 */
import { describe, expect, it } from 'vitest'
import { SqlLimitError, SqlQueryError } from '../../src/errors.ts'
import type { QueryResult } from '../../src/sql/engine.ts'
import { writeResult, type OutputFormat } from '../../src/sql/format.ts'
import type { SqlSource } from '../../src/sql/rows.ts'
import { runSql, type SqlRunOptions } from '../../src/sql/run.ts'
import type { LoadedTable } from '../../src/sql/tables.ts'
import { fromDecider } from '../../src/topology/loader.ts'
import bankV2 from '../fixtures/bank-account-v2.ts'
import bank from '../../topologies/bank-account.ts'
import { bankTopics, event, MemoryTopics, projection, rec, topology } from './fixtures.ts'

const options: SqlRunOptions = { raw: false, maxRows: 1000, timeoutMs: 10_000, readOnly: false }

async function rows(
  sources: SqlSource[],
  query: string,
  topics = bankTopics(),
  o: Partial<SqlRunOptions> = {},
): Promise<{ rows: Record<string, unknown>[]; loaded: LoadedTable[] }> {
  let loaded: LoadedTable[] = []
  const out = await runSql(sources, query, topics, { ...options, ...o, onLoaded: (l) => (loaded = l) }, (r) =>
    text(r, 'json'),
  )
  return {
    rows: out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>),
    loaded,
  }
}

async function text(r: QueryResult, format: OutputFormat): Promise<string> {
  let out = ''
  await writeResult(r, format, (t) => void (out += t), { widthSample: 2 })
  return out
}

describe('decider sql tables', () => {
  it('events: every event, typed columns, payload as JSON; undecodable records left out', async () => {
    const { rows: all, loaded } = await rows([topology], 'SELECT * FROM events ORDER BY "offset"')
    expect(all).toHaveLength(6)
    expect(all[5]).toEqual({
      partition: 0,
      offset: 5,
      aggregate_id: 'a',
      version: 4,
      type: 'DepositCorrected',
      event_id: 'a@4',
      command_id: 'c-a-4',
      correlation_id: 'c-a-4',
      causation_id: 'c-a-4',
      event_time: '2026-03-04T10:00:00.000Z',
      recorded_at: '2026-04-01T12:00:00.250Z',
      schema_version: 1,
      corrects: ['a@3'],
      correction_reason: 'typo',
      payload: { difference: -10, balance: 140 },
    })
    expect(loaded.find((t) => t.table === 'bank-account_events')).toMatchObject({ rows: 6, skipped: 1 })
    const { rows: sums } = await rows(
      [topology],
      `SELECT type, count(*) AS n, sum((payload->>'amount')::INT) AS total FROM "bank-account_events" GROUP BY type ORDER BY type`,
    )
    expect(sums).toEqual([
      { type: 'AccountCreated', n: 2, total: null },
      { type: 'DepositCorrected', n: 1, total: null },
      { type: 'MoneyDeposited', n: 3, total: 157 },
    ])
  })

  it('events are upcast to the current schema versions, or read as stored with raw', async () => {
    const v2 = fromDecider(bankV2, { name: 'bank-account' })
    const q = `SELECT payload->>'currency' AS currency, schema_version FROM events WHERE type = 'MoneyDeposited' LIMIT 1`
    expect((await rows([v2], q)).rows).toEqual([{ currency: 'EUR', schema_version: 2 }])
    expect((await rows([v2], q, bankTopics(), { raw: true })).rows).toEqual([
      { currency: null, schema_version: 1 },
    ])
  })

  it('snapshots: the last record per aggregate; tombstones delete, markers are not rows', async () => {
    const { rows: snaps } = await rows([topology], 'SELECT * FROM snapshots ORDER BY aggregate_id')
    expect(snaps).toEqual([
      {
        aggregate_id: 'a',
        version: 4,
        state: { status: 'open', owner: 'a', balance: 140 },
        state_version: 1,
      },
      { aggregate_id: 'b', version: 2, state: { status: 'open', owner: 'b', balance: 7 }, state_version: 1 },
    ])
    // The join the integration test asks too: per aggregate, the last event's version is the snapshot's.
    const { rows: joined } = await rows(
      [topology],
      `SELECT e.aggregate_id, max(e.version) AS last, s.version AS snap FROM events e JOIN snapshots s USING (aggregate_id) GROUP BY e.aggregate_id, s.version ORDER BY 1`,
    )
    expect(joined).toEqual([
      { aggregate_id: 'a', last: 4, snap: 4 },
      { aggregate_id: 'b', last: 2, snap: 2 },
    ])
  })

  it('views: the last view per key, deleted views gone; prefixed names with several topologies', async () => {
    const { rows: views } = await rows([projection], 'SELECT * FROM views ORDER BY key')
    expect(views).toEqual([
      { key: 'Ada', view: { n: 2 } },
      { key: 'Bob', view: { n: 1 } },
    ])
    const other = fromDecider(bank, { name: 'other' })
    const topics = bankTopics()
    topics.topics.set(other.topics.events, [rec(0, 'x', event('x', 1, 'AccountCreated', { owner: 'X' }))])
    topics.topics.set(other.topics.changelog, [])
    const { rows: counts } = await rows(
      [topology, other, projection],
      `SELECT (SELECT count(*) FROM "bank-account_events") AS a, (SELECT count(*) FROM other_events) AS o, (SELECT count(*) FROM views) AS v`,
      topics,
    )
    expect(counts).toEqual([{ a: 6, o: 1, v: 2 }])
    await expect(rows([topology, other], 'SELECT * FROM events', topics)).rejects.toThrow(
      /Table with name events does not exist[\s\S]*"bank-account_events": partition INTEGER, "offset" BIGINT/,
    )
  })

  it('a bad query is named with the tables and their columns, before any topic is read', async () => {
    const topics = bankTopics()
    const err = await rows([topology, projection], 'SELECT nope FROM events', topics).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SqlQueryError)
    const message = (err as Error).message
    expect(message).toMatch(/Referenced column "nope" not found/)
    expect(message).toContain(
      '"bank-account_events" (also events): partition INTEGER, "offset" BIGINT, aggregate_id VARCHAR, version INTEGER',
    )
    expect(message).toContain(
      '"bank-account_snapshots" (also snapshots): aggregate_id VARCHAR, version INTEGER, state JSON, state_version INTEGER',
    )
    expect(message).toContain('"per-owner_views" (also views): key VARCHAR, view JSON')
    expect(message).not.toContain('__stage')
    expect(topics.reads).toBe(0)
    await expect(rows([topology], 'SELEC 1', topics)).rejects.toThrow(/syntax error at or near "SELEC"/)
    await expect(rows([topology], '  ; ', topics)).rejects.toThrow(/the query is empty/)
  })

  it('read-only: one SELECT or WITH statement, nothing else, no file access', async () => {
    const ro = { readOnly: true }
    expect(
      (await rows([topology], 'WITH x AS (SELECT 1 AS one) SELECT * FROM x', bankTopics(), ro)).rows,
    ).toEqual([{ one: 1 }])
    for (const [q, why] of [
      ['DROP TABLE events', /not DROP/],
      ['CREATE TABLE t AS SELECT 1', /not CREATE/],
      ['SELECT 1; SELECT 2', /one SELECT statement, not 2/],
      ["COPY events TO '/tmp/x.csv'", /not COPY|disabled by configuration/],
      ['SET threads = 4', /only a SELECT .*not (SET|VARIABLE_SET)/],
      ["ATTACH ':memory:' AS other", /not ATTACH/],
      ['INSERT INTO "bank-account_events" (version) VALUES (1)', /not INSERT/],
      ["SELECT * FROM read_text('/etc/hostname')", /disabled by configuration/],
      ["SELECT * FROM query('SET TimeZone = ''Asia/Tokyo''')", /Expected a single SELECT statement/],
    ] as const)
      await expect(rows([topology], q, bankTopics(), ro), q).rejects.toThrow(why)
  })

  it('times are UTC, whatever the machine zone: TIMESTAMP columns, now() and casts agree', async () => {
    const { rows: r } = await rows(
      [topology],
      `SELECT current_setting('TimeZone') AS tz, event_time::TIMESTAMPTZ::VARCHAR AS t FROM events ORDER BY "offset" LIMIT 1`,
    )
    expect(r).toEqual([{ tz: 'UTC', t: '2026-03-01 10:00:00+00' }])
  })

  it('the row bound per table, and the deadline, stop the load with a clear error', async () => {
    const err = await rows([topology], 'SELECT 1', bankTopics(), { maxRows: 3 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SqlLimitError)
    expect((err as Error).message).toMatch(
      // Tables load at the same time: whichever passes the bound first is named.
      /table (bank-account_events: bank-account\.events|bank-account_snapshots: bank-account-snapshots-changelog) has more than 3 rows to load/,
    )
    const slow = bankTopics()
    slow.read = async (_t, onChunk, o) => {
      while (!o.signal.aborted) await new Promise((r) => setTimeout(r, 20))
      await onChunk([])
    }
    await expect(rows([topology], 'SELECT 1', slow, { timeoutMs: 200 })).rejects.toThrow(
      /reading the topics did not finish within the time limit of 200 ms/,
    )
    const missing = new MemoryTopics(new Map())
    await expect(rows([topology], 'SELECT 1', missing)).rejects.toThrow(
      /topic bank-account.events \(of table bank-account_events\) does not exist/,
    )
  })

  it('formats: JSON lines, CSV, an aligned table with wide cells cut', async () => {
    const q = `SELECT aggregate_id, version, payload, repeat('x', 60) AS wide FROM events WHERE aggregate_id = 'b' ORDER BY version`
    const run = (f: OutputFormat) => runSql([topology], q, bankTopics(), options, (r) => text(r, f))
    expect(await run('csv')).toBe(
      'aggregate_id,version,payload,wide\n' +
        `b,1,"{""owner"":""Bob""}",${'x'.repeat(60)}\n` +
        `b,2,"{""amount"":7,""balance"":7}",${'x'.repeat(60)}\n`,
    )
    const table = (await run('table')).split('\n')
    expect(table[0]).toBe(`aggregate_id  version  ${'payload'.padEnd(24)}  wide`)
    expect(table[1]).toBe(`------------  -------  ${'-'.repeat(24)}  ${'-'.repeat(40)}`)
    expect(table[2]).toBe(`b                   1  ${'{"owner":"Bob"}'.padEnd(24)}  ${'x'.repeat(39)}…`)
    expect(table[4]).toBe('(2 rows)')
  })
})
