/**
 * The query API of projections on the real broker, with two in-process workers that both run a bank-account
 * topology and a projection defined in code (fromProjection), keyed by event type and by account, so that its views
 * spread over the 4 partitions of its repartition topic, owned by both workers:
 * - read-your-writes: a command POSTed through worker A answers with the positions of its events; a view read
 *   through worker B with waitFor=<those positions> includes the command's events; the same over Kafka
 *   (CommandClient's reply, ViewClient.waitForReply looks its positions up in the event index);
 * - every view is answered by both workers, by the owner of its key's partition (answeredBy, and the other worker
 *   says it forwarded), the owner checked against the workers' own tasks;
 * - a list across partitions, asked of either worker, equals the union of what each owner holds, in bytewise key
 *   order, and pages the same through the ViewClient.
 */
import path from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CommandClient } from '../../src/client/command-client.ts'
import { views, type EventPosition } from '../../src/client/view-client.ts'
import { resolveWorkerConfig } from '../../src/config/worker-config.ts'
import type { EventOf } from '../../src/domain/decider.ts'
import { defineProjection } from '../../src/domain/projection.ts'
import { viewPartitionOf } from '../../src/http/routing.ts'
import { partitionOf } from '../../src/kafka/partitioner.ts'
import { loadTopology, type Topology } from '../../src/topology/loader.ts'
import { fromProjection, type ProjectionTopology } from '../../src/topology/projection-loader.ts'
import { Worker } from '../../src/worker/worker.ts'
import type bankAccount from '../../topologies/bank-account.ts'
import { tempDir, writeBankTopology } from '../support/eos.ts'
import { kafkaBrokers, newKafka, uniqueName } from '../support/kafka.ts'

interface AccountView {
  events: number
  balance: number
  version: number
}
interface TypeView {
  count: number
}
type View = AccountView | TypeView

/** Two views per event: its type's (a counter) and its account's (balance and version). */
const byTypeAndAccount = defineProjection<EventOf<typeof bankAccount>, View>({
  key: (e) => [`type/${e.type}`, `account/${e.aggregateId}`],
  project: (view, e, key) => {
    if (key.startsWith('type/')) return { count: ((view as TypeView | undefined)?.count ?? 0) + 1 }
    const v = view as AccountView | undefined
    return {
      events: (v?.events ?? 0) + 1,
      balance: 'balance' in e.payload ? e.payload.balance : (v?.balance ?? 0),
      version: e.version,
    }
  },
})

const name = uniqueName('views')
const dir = tempDir('views')
const ids = Array.from({ length: 8 }, (_, i) => `acc-${i}`)
let topology: Topology
let projection: ProjectionTopology
const workers: Worker[] = []
const urls: string[] = []
/** The last offset a reply gave per events partition: a view read waiting for all of them sees every event. */
const lastPositions = new Map<number, EventPosition>()

interface Answer {
  status: number
  body: Record<string, unknown>
  headers: Headers
}

async function request(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(40_000) })
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers }
}

/** Asks until the answer is not a 503 (a group settling), bounded. */
async function settled(ask: () => Promise<Answer>, timeoutMs = 60_000): Promise<Answer> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const a = await ask()
    if (a.status !== 503 || Date.now() > deadline) return a
    await new Promise((r) => setTimeout(r, Number(a.body.retryAfterMs ?? 500)))
  }
}

const post = (base: string, body: unknown) =>
  settled(() =>
    request(`${base}/commands/${topology.definition.name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  )

const waitParams = (positions: Iterable<EventPosition>, timeoutMs = 30_000) => {
  const q = new URLSearchParams()
  for (const p of positions) q.append('waitFor', `${p.topic}:${p.partition}:${p.offset}`)
  q.set('timeoutMs', String(timeoutMs))
  return q
}

const viewUrl = (base: string, key: string, q?: URLSearchParams) =>
  `${base}/views/${projection.definition.name}/${encodeURIComponent(key)}${q ? `?${q}` : ''}`

function remember(positions: EventPosition[]): void {
  for (const p of positions) {
    const known = lastPositions.get(p.partition)
    if (known === undefined || BigInt(p.offset) > BigInt(known.offset)) lastPositions.set(p.partition, p)
  }
}

/** The worker whose projection task holds `partition` now. */
function ownerOfView(key: string): string | undefined {
  const q = viewPartitionOf(key, projection.definition.partitions)
  const i = workers.findIndex((w) => w.projectionRunners[0]!.tasks.has(q))
  return i < 0 ? undefined : urls[i]
}

async function startWorker(stateDir: string): Promise<Worker> {
  const w = new Worker({
    topologies: [topology],
    projections: [projection],
    config: resolveWorkerConfig(
      {
        kafka: { brokers: kafkaBrokers() },
        stateDir,
        http: { host: '127.0.0.1', port: 0 },
        log: { level: 'silent' },
      },
      {},
    ),
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  })
  await w.start()
  return w
}

/** Both workers ready, each holding tasks of the topology and of the projection. */
async function bothOwnSome(timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = workers.every(
      (w) => w.isReady() && w.runners[0]!.tasks.size > 0 && w.projectionRunners[0]!.tasks.size > 0,
    )
    if (ok) return
    if (Date.now() > deadline)
      throw new Error(`workers not settled: ${workers.map((w) => JSON.stringify(w.readiness())).join(' ')}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

beforeAll(async () => {
  topology = await loadTopology(writeBankTopology(dir, name))
  projection = fromProjection(byTypeAndAccount, { name: `${name}-views`, partitions: 4 }, [
    { topic: topology.topics.events, topology },
  ])
  for (const sub of ['a', 'b']) {
    const w = await startWorker(path.join(dir, `state-${sub}`))
    workers.push(w)
    urls.push(w.httpAddress!)
  }
  await bothOwnSome()
}, 150_000)

afterAll(async () => {
  await Promise.allSettled(workers.map((w) => w.stop()))
})

describe('views over two workers', () => {
  it('read-your-writes: POST through A answers with positions; the view through B with waitFor has the events', async () => {
    const [a, b] = urls as [string, string]
    const latency: number[] = []
    for (const [i, id] of ids.entries()) {
      const created = await post(i % 2 ? a : b, {
        aggregateId: id,
        type: 'CreateAccount',
        payload: { owner: id },
      })
      expect(created.status, JSON.stringify(created.body)).toBe(200)
      expect(created.body.positions, JSON.stringify(created.body)).toEqual([
        {
          topic: topology.topics.events,
          partition: partitionOf(id, 6),
          offset: expect.stringMatching(/^\d+$/),
        },
      ])
      remember(created.body.positions as EventPosition[])
      const started = performance.now()
      const deposit = await post(a, { aggregateId: id, type: 'Deposit', payload: { amount: 100 * (i + 1) } })
      expect([deposit.status, deposit.body.status, deposit.body.version]).toEqual([200, 'accepted', 2])
      const positions = deposit.body.positions as EventPosition[]
      expect(positions).toHaveLength(1)
      expect(BigInt(positions[0]!.offset)).toBeGreaterThan(
        BigInt((created.body.positions as EventPosition[])[0]!.offset),
      )
      remember(positions)
      const r = await settled(() => request(viewUrl(b, `account/${id}`, waitParams(positions))))
      latency.push(performance.now() - started)
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      expect(r.body).toMatchObject({
        projection: projection.definition.name,
        key: `account/${id}`,
        view: { events: 2, balance: 100 * (i + 1), version: 2 },
        partition: viewPartitionOf(`account/${id}`, 4),
      })
      expect(r.body.answeredBy).toBe(ownerOfView(`account/${id}`))
    }
    const sorted = latency.sort((x, y) => x - y)
    console.log(
      `[views] POST deposit -> view with waitFor through the other worker: median ${sorted[sorted.length >> 1]!.toFixed(0)} ms, max ${sorted[sorted.length - 1]!.toFixed(0)} ms`,
    )
  }, 120_000)

  it('read-your-writes over Kafka: the ViewClient finds the positions of a CommandClient reply', async () => {
    const client = new CommandClient({
      kafka: newKafka(uniqueName('views-client')),
      commandsTopic: topology.topics.commands,
      repliesTopic: topology.topics.replies,
    })
    try {
      const reply = await client.sendAndWait(
        { aggregateId: 'acc-0', type: 'Withdraw', payload: { amount: 30 } },
        30_000,
      )
      expect(reply).toMatchObject({ status: 'accepted', version: 3 })
      const accounts = views<AccountView>(projection.definition.name, { url: urls[1]!, timeoutMs: 30_000 })
      const wait = await accounts.waitForReply(reply, topology)
      expect(wait.waitFor).toEqual([
        { topic: topology.topics.events, partition: partitionOf('acc-0', 6), offset: expect.any(String) },
      ])
      remember(wait.waitFor)
      const view = await accounts.get('account/acc-0', { ...wait, waitTimeoutMs: 30_000 })
      expect(view).toEqual({ events: 3, balance: 70, version: 3 })
    } finally {
      await client.close()
    }
  }, 120_000)

  const keys = () => [
    'type/AccountCreated',
    'type/MoneyDeposited',
    'type/MoneyWithdrawn',
    ...ids.map((id) => `account/${id}`),
  ]
  const expected = (key: string): View =>
    key === 'type/AccountCreated'
      ? { count: 8 }
      : key === 'type/MoneyDeposited'
        ? { count: 8 }
        : key === 'type/MoneyWithdrawn'
          ? { count: 1 }
          : key === 'account/acc-0'
            ? { events: 3, balance: 70, version: 3 }
            : { events: 2, balance: 100 * (ids.indexOf(key.slice(8)) + 1), version: 2 }

  it('every view is answered by both workers, by the owner of its partition, named in the answer', async () => {
    const [a, b] = urls as [string, string]
    const all = waitParams(lastPositions.values()) // every event sent so far
    const owners = new Set<string>()
    for (const key of keys()) {
      const fromA = await settled(() => request(viewUrl(a, key, all)))
      const fromB = await settled(() => request(viewUrl(b, key, all)))
      for (const r of [fromA, fromB]) {
        expect(r.status, `${key}: ${JSON.stringify(r.body)}`).toBe(200)
        expect(r.body.view, key).toEqual(expected(key))
      }
      const owner = fromA.body.answeredBy as string
      expect(fromB.body.answeredBy, `${key}: both name the same owner`).toBe(owner)
      expect(owner, `${key}: the worker whose task holds the partition`).toBe(ownerOfView(key))
      expect(fromA.headers.get('x-decider-answered-by')).toBe(owner)
      const other = owner === a ? b : a
      const viaOther = owner === a ? fromB : fromA
      expect(viaOther.headers.get('x-decider-forwarded-by'), `${key}: the other worker forwarded`).toBe(other)
      // Without forwarding (the loop header), only the owner answers.
      expect(
        (await request(viewUrl(other, key), { headers: { 'x-decider-forwarded': '1' } })).body,
      ).toMatchObject({
        code: 'not_owner',
      })
      owners.add(owner)
    }
    expect([...owners].sort(), 'both workers own some of the views').toEqual([...urls].sort())
    const none = await settled(() => request(viewUrl(a, 'account/nobody')))
    expect(none).toMatchObject({ status: 404, body: { code: 'no_view' } })
  }, 120_000)

  it('a list across partitions, from either worker, is the union of what each owner holds, in key order', async () => {
    const [a, b] = urls as [string, string]
    const list = (base: string, q = 'limit=1000') =>
      settled(() => request(`${base}/views/${projection.definition.name}?${q}`))
    const fromA = await list(a)
    const fromB = await list(b)
    expect(fromA.status, JSON.stringify(fromA.body)).toBe(200)
    expect(fromB.body.views).toEqual(fromA.body.views)
    expect(fromA.body.next).toBeUndefined()
    const sortedKeys = keys().sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    expect(fromA.body.views).toEqual(sortedKeys.map((key) => ({ key, view: expected(key) })))
    // The union of each worker's own partitions (asked with partitions=, answered locally).
    const union: { key: string }[] = []
    for (const [i, w] of workers.entries()) {
      const held = [...w.projectionRunners[0]!.tasks.keys()].sort()
      const own = await list(urls[i]!, `limit=1000&partitions=${held.join(',')}`)
      expect(own.status, JSON.stringify(own.body)).toBe(200)
      expect(own.body.answeredBy).toBe(urls[i])
      union.push(...(own.body.views as { key: string }[]))
    }
    expect(union.map((v) => v.key).sort()).toEqual([...sortedKeys].sort())
    // Pages and a prefix, through the ViewClient.
    const client = views<View>(projection.definition.name, { url: b, timeoutMs: 30_000 })
    const paged: string[] = []
    for await (const { key } of client.entries({ pageSize: 3 })) paged.push(key)
    expect(paged).toEqual(sortedKeys)
    const accounts = await client.list({ prefix: 'account/', limit: 5 })
    expect(accounts.views.map((v) => v.key)).toEqual(
      sortedKeys.filter((k) => k.startsWith('account/')).slice(0, 5),
    )
    expect(accounts.next).toBe('account/acc-4')
  }, 120_000)
})
