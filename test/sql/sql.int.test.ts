/**
 * decider sql against the real broker: commands sent to bank-account through a real worker process, then (a) a
 * GROUP BY over the events and (b) the events joined with the snapshots, checked against what was sent; the views
 * of a projection the worker runs joined with the snapshots; the same through the running worker's POST /sql; a
 * reader that stops early; a bad query (exit 2) and missing topics (exit 1); and a views changelog written here in
 * the projection runtime's format (committed, aborted and open transactions, deletions, an internal marker, msgpack
 * and JSON values).
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Admin, Kafka, Producer } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encode, type Serialization } from '../../src/domain/codec.ts'
import { ROOT, runCli } from '../cli/run-cli.ts'
import { spawnWorker, waitForLog, type WorkerProcess } from '../support/eos.ts'
import { createTopics, kafkaBrokers, newKafka, uniqueName } from '../support/kafka.ts'

const name = uniqueName('sql')
const dir = mkdtempSync(path.join(tmpdir(), 'decider-sql-int-'))
const stateDir = path.join(dir, 'state')
const topology = path.join(dir, 'topology.yaml')
const projection = path.join(dir, 'projection.yaml')
const summary = path.join(dir, 'summary.yaml')
const viewsTopic = `${name}-owners-views-changelog`
writeFileSync(
  topology,
  [`name: ${name}`, `decider: ${path.join(ROOT, 'topologies/bank-account.ts')}`, 'partitions: 2', ''].join(
    '\n',
  ),
)
writeFileSync(
  projection,
  [
    'kind: projection',
    `name: ${name}-owners`,
    `projection: ${path.join(ROOT, 'test/sql/views-projection.ts')}`,
    'sources:',
    `  - topic: ${name}.events`,
    'partitions: 2',
    '',
  ].join('\n'),
)

// A projection the worker runs (the sample's projector, over this topology's events): its views changelog as the
// projection runtime writes it.
writeFileSync(
  summary,
  [
    'kind: projection',
    `name: ${name}-summary`,
    `projection: ${path.join(ROOT, 'topologies/bank-account-summary.ts')}`,
    'sources:',
    '  - topology: ./topology.yaml',
    'partitions: 2',
    '',
  ].join('\n'),
)

let env: Record<string, string>
let worker: WorkerProcess | undefined
let kafka: Kafka
let admin: Admin
const producers: Producer[] = []

beforeAll(async () => {
  env = { KAFKA_BROKERS: kafkaBrokers().join(','), DECIDER_STATE_DIR: stateDir }
  kafka = newKafka('sql-int')
  admin = kafka.admin()
  await admin.connect()
  worker = spawnWorker([topology, summary], stateDir, { DECIDER_HTTP_SQL: 'true' })
  await waitForLog(worker, /worker ready/, 1, 90_000)
}, 120_000)

afterAll(async () => {
  worker?.kill('SIGKILL')
  await worker?.exited
  for (const p of producers) await p.disconnect().catch(() => undefined)
  await admin?.disconnect()
})

const sql = (args: string[]) => runCli(['sql', ...args, '--timeout', '30000'], env, 60_000)
const lines = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)

// What is sent: 3 accounts, 6 deposits (405 in all), 1 withdrawal; a refused withdrawal writes no event.
const DEPOSITS: [string, number][] = [
  ['acc-1', 100],
  ['acc-2', 40],
  ['acc-1', 250],
  ['acc-3', 5],
  ['acc-3', 5],
  ['acc-3', 5],
]
const EXPECTED = {
  'acc-1': { version: 4, balance: 320 }, // created, 100, 250, -30
  'acc-2': { version: 2, balance: 40 },
  'acc-3': { version: 4, balance: 15 },
}

describe('decider sql on a real broker', () => {
  it('(a) counts per event type and the sum of deposits, (b) per aggregate the last event version = the snapshot version', async () => {
    const commands = [
      ...['acc-1', 'acc-2', 'acc-3'].map((id) => ({
        aggregateId: id,
        type: 'CreateAccount',
        payload: { owner: id },
      })),
      ...DEPOSITS.map(([id, amount]) => ({ aggregateId: id, type: 'Deposit', payload: { amount } })),
      { aggregateId: 'acc-1', type: 'Withdraw', payload: { amount: 30 } },
    ]
    const file = path.join(dir, 'commands.ndjson')
    writeFileSync(file, commands.map((c) => JSON.stringify(c)).join('\n') + '\n')
    const sent = await runCli(['send', topology, '--file', file, '--wait', '--timeout', '30000'], env, 60_000)
    expect(sent.code, sent.stderr).toBe(0)
    expect(JSON.parse(sent.stdout)).toEqual({ sent: 10, replies: { accepted: 10 } })
    const refused = await runCli(
      ['send', topology, '-t', 'Withdraw', '-i', 'acc-2', '-p', '{"amount":1000}', '-w'],
      env,
      40_000,
    )
    expect(refused.code, refused.stderr).toBe(1)

    const a = await sql([
      topology,
      `SELECT type, count(*) AS n, sum((payload->>'amount')::BIGINT) AS amount FROM events GROUP BY type ORDER BY type`,
    ])
    expect(a.code, a.stderr).toBe(0)
    expect(lines(a.stdout)).toEqual([
      { type: 'AccountCreated', n: 3, amount: null },
      { type: 'MoneyDeposited', n: 6, amount: 405 },
      { type: 'MoneyWithdrawn', n: 1, amount: 30 },
    ])
    expect(a.stderr).toMatch(new RegExp(`loaded ${name}_events: 10 row\\(s\\) from ${name}\\.events`))
    expect(a.stderr).toContain('3 row(s)')

    const b = await sql([
      topology,
      `SELECT e.aggregate_id, max(e.version) AS last_event, any_value(s.version) AS snapshot,
              any_value((s.state->>'balance')::BIGINT) AS balance, count(*) AS events
       FROM events e JOIN snapshots s USING (aggregate_id) GROUP BY e.aggregate_id ORDER BY 1`,
    ])
    expect(b.code, b.stderr).toBe(0)
    expect(lines(b.stdout)).toEqual(
      Object.entries(EXPECTED).map(([id, x]) => ({
        aggregate_id: id,
        last_event: x.version,
        snapshot: x.version,
        balance: x.balance,
        events: x.version,
      })),
    )
    const csv = await sql([
      topology,
      'SELECT aggregate_id, version FROM snapshots ORDER BY 1',
      '--format',
      'csv',
    ])
    expect(csv.code, csv.stderr).toBe(0)
    expect(csv.stdout).toBe('aggregate_id,version\nacc-1,4\nacc-2,2\nacc-3,4\n')
  }, 120_000)

  it("the views of a projection the worker runs: each account's summary balance = its snapshot's", async () => {
    const query = `SELECT v.key, (v.view->>'balance')::BIGINT AS view_balance, (s.state->>'balance')::BIGINT AS snapshot_balance,
                          (v.view->>'transactions')::INT AS transactions
                   FROM views v JOIN snapshots s ON s.aggregate_id = v.key ORDER BY 1`
    const expected = Object.entries(EXPECTED).map(([id, x]) => ({
      key: id,
      view_balance: x.balance,
      snapshot_balance: x.balance,
      transactions: x.version - 1,
    }))
    // The projection trails the replies by its own transactions: ask again until it has caught up (bounded).
    let got: Record<string, unknown>[] = []
    for (let i = 0; i < 30; i++) {
      const r = await sql([topology, summary, query])
      expect(r.code, r.stderr).toBe(0)
      got = lines(r.stdout)
      if (JSON.stringify(got) === JSON.stringify(expected)) break
      await new Promise((res) => setTimeout(res, 500))
    }
    expect(got).toEqual(expected)
  }, 120_000)

  it('POST /sql on the running worker answers the same; a write is refused', async () => {
    const url = /"url":"(http:\/\/[^"]+)"/.exec(worker!.output())?.[1]
    expect(url, worker!.output().slice(-2000)).toBeDefined()
    const post = async (query: string) => {
      const r = await fetch(`${url}/sql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topologies: [name], query }),
      })
      return { status: r.status, body: (await r.json()) as Record<string, any> }
    }
    const deposits = await post(
      `SELECT count(*) AS n, sum((payload->>'amount')::BIGINT) AS amount FROM events WHERE type = 'MoneyDeposited'`,
    )
    expect(deposits.status, JSON.stringify(deposits.body)).toBe(200)
    expect(deposits.body).toMatchObject({ rows: [{ n: 6, amount: 405 }], rowCount: 1, truncated: false })
    // The worker's projection too: its views table, next to the topology's.
    const r = await fetch(`${url}/sql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        topologies: [name, `${name}-summary`],
        query: `SELECT count(*) AS accounts, sum((view->>'balance')::BIGINT) AS balance FROM views`,
      }),
    })
    expect(await r.json()).toMatchObject({ rows: [{ accounts: 3, balance: 375 }] })
    const write = await post(`DELETE FROM "${name}_events"`)
    expect([write.status, write.body.code]).toEqual([400, 'invalid_query'])
  }, 60_000)

  it('a reader that stops early (| head) ends the command quietly, exit 0', async () => {
    const cli = `${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(ROOT, 'bin/decider.js'))}`
    const script = `${cli} sql ${JSON.stringify(topology)} "SELECT * FROM range(2000000) t(i)" --format csv | head -2; echo "exit \${PIPESTATUS[0]}" >&2`
    const r = await new Promise<{ stdout: string; stderr: string }>((resolve) =>
      execFile(
        'bash',
        ['-c', script],
        { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 },
        (_e, stdout, stderr) => resolve({ stdout, stderr }),
      ),
    )
    expect(r.stdout).toBe('i\n0\n')
    expect(r.stderr).toMatch(/exit 0\n$/)
    expect(r.stderr).not.toMatch(/EPIPE|Error/)
  }, 60_000)

  it('a bad query exits 2 naming the problem and the tables; missing topics exit 1', async () => {
    const bad = await sql([topology, 'SELECT balance FROM snapshots'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/Referenced column "balance" not found/)
    expect(bad.stderr).toContain(
      `"${name}_snapshots" (also snapshots): aggregate_id VARCHAR, version INTEGER, state JSON`,
    )
    const other = path.join(dir, 'other.yaml')
    writeFileSync(
      other,
      [`name: ${name}-none`, `decider: ${path.join(ROOT, 'topologies/bank-account.ts')}`, ''].join('\n'),
    )
    const missing = await sql([other, 'SELECT count(*) FROM events'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain(
      `topic ${name}-none.events (of table ${name}-none_events) does not exist`,
    )
  }, 60_000)

  it('views: the last committed view per key of a views changelog; deleted, aborted and internal records left out; an open transaction holds the read', async () => {
    await createTopics(admin, [
      {
        topic: viewsTopic,
        numPartitions: 2,
        replicationFactor: 1,
        configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
      },
    ])
    const p = kafka.producer({
      transactionalId: `${viewsTopic}-txn`,
      idempotent: true,
      maxInFlightRequests: 1,
    })
    producers.push(p)
    await p.connect()
    const view = (partition: number, key: string, value: unknown, s: Serialization = 'msgpack') => ({
      partition,
      key,
      value: value === null ? null : encode(value, s),
      headers: { 'content-type': s === 'json' ? 'application/json' : 'application/msgpack' },
    })
    const txn = async (messages: ReturnType<typeof view>[], end: 'commit' | 'abort' | 'open') => {
      const t = await p.transaction()
      await t.send({ topic: viewsTopic, messages })
      if (end === 'commit') await t.commit()
      if (end === 'abort') await t.abort()
      return t
    }
    await txn(
      [
        view(0, 'Ada', { n: 1 }),
        view(1, 'Bob', { n: 1 }, 'json'),
        view(0, '\u0000kafka-decider/offset-marker', { marker: 'input-offset', inputOffset: '7' }),
        view(1, 'Eve', { n: 1 }),
      ],
      'commit',
    )
    await txn([view(0, 'Ada', { n: 2, tags: ['x'] }), view(1, 'Eve', null)], 'commit')
    await txn([view(1, 'Bob', { n: 99 }), view(0, 'Zed', { n: 1 })], 'abort')

    const query = 'SELECT key, view FROM views ORDER BY key'
    const r = await sql([projection, query])
    expect(r.code, r.stderr).toBe(0)
    expect(lines(r.stdout)).toEqual([
      { key: 'Ada', view: { n: 2, tags: ['x'] } },
      { key: 'Bob', view: { n: 1 } },
    ])
    expect(r.stderr).toMatch(new RegExp(`loaded ${name}-owners_views: 2 row\\(s\\) \\(of 5 records\\)`))

    // With the decider topology: prefixed tables, an alias for the only one of each kind.
    const both = await sql([
      topology,
      projection,
      `SELECT (SELECT count(*) FROM "${name}_events") AS events, (SELECT count(*) FROM views) AS views`,
    ])
    expect(both.code, both.stderr).toBe(0)
    expect(lines(both.stdout)).toEqual([{ events: 10, views: 2 }])

    // A transaction still open: read_committed cannot pass it, so the read waits, within --timeout.
    const open = await txn([view(1, 'Carl', { n: 1 })], 'open')
    const held = await runCli(['sql', projection, query, '--timeout', '3000'], env, 30_000)
    expect(held.code, held.stderr).toBe(1)
    expect(held.stderr).toMatch(/did not finish within the time limit of 3000 ms|made no progress/)
    await open.commit()
    const after = await sql([projection, `SELECT key FROM views WHERE key = 'Carl'`])
    expect(after.code, after.stderr).toBe(0)
    expect(lines(after.stdout)).toEqual([{ key: 'Carl' }])
  }, 120_000)
})
