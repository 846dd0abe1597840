/**
 * A worker's HTTP server as the worker builds it (the real state, event, as-of, view and SQL routes, the front door
 * with the command route and reply positions), over fake runners: topology `bank` (2 partitions, both RUNNING
 * here; acc-1 has a snapshot) and projection `totals` (1 partition, view `k1`). Commands are answered `accepted`
 * by a fake sender. For the auth, bounds and fuzz tests.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { encode } from '../../src/domain/codec.ts'
import type { AnyDecider } from '../../src/domain/decider.ts'
import type { ReplyEnvelope } from '../../src/domain/envelopes.ts'
import { PAST_ALL_KEYS, sourceId } from '../../src/domain/projection-records.ts'
import { asOfQuery } from '../../src/http/as-of.ts'
import { httpAuth, type HttpAuthOptions } from '../../src/http/auth.ts'
import { eventQueries, type EventQueryableTask } from '../../src/http/events.ts'
import type { FrontDoorOptions } from '../../src/http/front-door.ts'
import type { HttpLimits } from '../../src/http/guard.ts'
import type { PeerTls } from '../../src/http/peer.ts'
import { replyPositions } from '../../src/http/positions.ts'
import type { AggregateRouter } from '../../src/http/routing.ts'
import { startHttp, type HttpTls } from '../../src/http/server.ts'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { catalogQuery, consoleFiles } from '../../src/http/console.ts'
import { clusterQuery } from '../../src/http/cluster.ts'
import type { DeadLetterOptions } from '../../src/http/dead-letters.ts'
import { sqlRoute } from '../../src/http/sql.ts'
import { stateQuery } from '../../src/http/state.ts'
import { viewQueries, type ViewQueryableTask } from '../../src/http/views.ts'
import { createMetrics } from '../../src/metrics/metrics.ts'
import { TaskState } from '../../src/runtime/task-state.ts'
import { fromDecider } from '../../src/topology/loader.ts'
import bank from '../../topologies/bank-account.ts'

const topologyNamed = (name: string) => fromDecider(bank as unknown as AnyDecider, { name, partitions: 2 })
const projection = {
  definition: { name: 'totals', partitions: 1 },
  sources: [{ topic: 'bank.events' }],
}

const snapshot = { aggregateId: 'acc-1', version: 1, state: { balance: 1 }, recent: [], sourceOffset: '0' }

function bankTask(): EventQueryableTask {
  return {
    state: TaskState.RUNNING,
    committedSnapshot: async (id) => (id === 'acc-1' ? snapshot : undefined),
    // Only what a reply's positions ask for (version 1 alone): an event at offset 41.
    committedEvents: async (aggregateId, range) =>
      range.fromVersion === 1 && range.toVersion === 1
        ? [
            {
              aggregateId,
              version: 1,
              offset: 41n,
              value: encode(
                { aggregateId, version: 1, type: 'Deposited', payload: { amount: 1 } },
                'msgpack',
              ),
            },
          ]
        : [],
    committedEventsFrom: async () => [],
  }
}

function totalsTask(): ViewQueryableTask {
  const views = new Map<string, unknown>([['k1', { n: 1 }]])
  return {
    state: TaskState.RUNNING,
    view: async (key) => views.get(key),
    views: async (r) =>
      [...views.entries()]
        .filter(([k]) => k.startsWith(r.prefix ?? '') && (r.after === undefined || k > r.after))
        .slice(0, r.limit)
        .map(([key, view]) => ({ key, view })),
    sourcePositions: () => new Map([[sourceId('bank.events', 0), { offset: 10n, keyIndex: PAST_ALL_KEYS }]]),
    waitFor: async () => true,
  }
}

export interface FixtureOptions {
  auth?: HttpAuthOptions
  limits?: Partial<HttpLimits>
  tls?: HttpTls
  peerTls?: PeerTls
  /** Routes reads (default: every read answered here). */
  router?: AggregateRouter
  self?: string
  /** False: this worker holds no partition (every read goes to the router's owners). Default true. */
  holds?: boolean
  /** Runs before the fake sender answers (e.g. to hold commands in progress). */
  beforeReply?: () => Promise<void>
  /** The topology's name (default bank). */
  topologyName?: string
}

export interface Fixture {
  server: Server
  url: string
  door: FrontDoorOptions
  /** Commands the fake sender got. */
  sent: { topology: string; commandId: string }[]
  close(): Promise<void>
}

/** The console's files (a page and a script) for the fixture's /console routes. */
const consoleDir = mkdtempSync(path.join(tmpdir(), 'fixture-console-'))
writeFileSync(path.join(consoleDir, 'index.html'), '<!doctype html><title>console</title>')
writeFileSync(path.join(consoleDir, 'app.js'), 'export {}')

/** One dead letter at bank.dlq 0:5 (a misrouted Deposit of acc-1); a replay is "written" to bank.commands 0:9. */
const deadLetter = {
  partition: 0,
  offset: '5',
  timestamp: '1767225600000',
  key: Buffer.from('acc-1'),
  value: Buffer.from(JSON.stringify({ commandId: 'c1', type: 'Deposit', payload: { amount: 1 } })),
  headers: { 'content-type': 'application/json', 'kd-error-code': 'misrouted', 'kd-error-message': 'x' },
}
export const FIXTURE_DEAD_LETTERS: DeadLetterOptions = {
  topologies: [{ name: 'bank', commands: 'bank.commands', deadLetters: 'bank.dlq' }],
  store: {
    list: async () => ({ records: [deadLetter], partitions: [{ partition: 0, start: '0', end: '6' }] }),
    one: async (_t, p, offset) => (p === 0 && offset === 5n ? deadLetter : undefined),
  },
  replay: async () => ({ sentTo: { topic: 'bank.commands', partition: 0, offset: '9' } }),
}

export async function workerHttp(o: FixtureOptions = {}): Promise<Fixture> {
  const held = o.holds === false ? [] : [0, 1]
  const topology = topologyNamed(o.topologyName ?? 'bank')
  const runners = [{ name: topology.definition.name, tasks: new Map(held.map((p) => [p, bankTask()])) }]
  const projectionRunners = [
    { name: 'totals', tasks: new Map(held.filter((p) => p === 0).map((p) => [p, totalsTask()])) },
  ]
  const events = eventQueries([topology], () => runners)
  const sent: Fixture['sent'] = []
  const door: FrontDoorOptions = {
    self: o.self ?? 'http://fixture:1',
    ...(o.router !== undefined ? { router: o.router } : {}),
    ...(o.peerTls !== undefined ? { peerTls: o.peerTls } : {}),
    forwardTimeoutMs: 2000,
  }
  door.commands = {
    topologies: [topology.definition.name],
    maxBodyBytes: o.limits?.maxBodyBytes ?? 1024 * 1024,
    send: async (t, cmd): Promise<ReplyEnvelope> => {
      sent.push({ topology: t, commandId: cmd.commandId })
      await o.beforeReply?.()
      return {
        commandId: cmd.commandId,
        aggregateId: cmd.aggregateId,
        status: 'accepted',
        version: 1,
        events: [['Deposited', 1]],
      }
    },
    positions: replyPositions({
      topologies: [topology],
      events,
      router: () => door.router,
      peerTimeoutMs: 1000,
      ...(o.peerTls !== undefined ? { peerTls: o.peerTls } : {}),
    }),
    positionsTimeoutMs: 1000,
  }
  const server = await startHttp({
    host: '127.0.0.1',
    port: 0,
    registry: createMetrics().registry,
    readiness: () => ({ ready: true }),
    state: stateQuery([topology], () => runners),
    events,
    asOf: asOfQuery([topology], () => runners),
    views: viewQueries({
      projections: [projection],
      runners: () => projectionRunners,
      router: () => door.router,
      peerTimeoutMs: 1000,
      ...(o.peerTls !== undefined ? { peerTls: o.peerTls } : {}),
    }),
    sql: sqlRoute({
      sources: [topology],
      topics: { missing: async () => [], read: async () => undefined },
      timeoutMs: 5_000,
      maxRows: 10,
      maxBodyBytes: Math.min(64 * 1024, o.limits?.maxBodyBytes ?? 64 * 1024),
    }),
    frontDoor: door,
    consoleFiles: consoleFiles(consoleDir),
    catalog: catalogQuery({ topologies: [topology], projections: [], commands: true }),
    cluster: clusterQuery({
      groups: [{ name: topology.definition.name, kind: 'topology', partitions: 2 }],
      local: async () => ({ url: door.self, ready: true, at: 0, groups: [] }),
      owners: () => undefined,
      self: () => door.self,
      timeoutMs: 1000,
    }),
    deadLetters: FIXTURE_DEAD_LETTERS,
    ...(o.auth !== undefined ? { auth: httpAuth(o.auth) } : {}),
    ...(o.limits !== undefined ? { limits: o.limits } : {}),
    ...(o.tls !== undefined ? { tls: o.tls } : {}),
  })
  const port = (server.address() as AddressInfo).port
  return {
    server,
    url: `${o.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    door,
    sent,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r())
        server.closeAllConnections()
      }),
  }
}

/** One request of each route the server serves (HTTP_ROUTES), with a body the route takes. */
export const ROUTE_REQUESTS = [
  { class: 'health', method: 'GET', path: '/livez' },
  { class: 'health', method: 'GET', path: '/readyz' },
  { class: 'metrics', method: 'GET', path: '/metrics' },
  { class: 'read', method: 'GET', path: '/state/bank/acc-1' },
  { class: 'read', method: 'GET', path: '/aggregates/bank/acc-1/events' },
  { class: 'read', method: 'GET', path: '/aggregates/bank/acc-1/state' },
  { class: 'read', method: 'GET', path: '/events/bank' },
  { class: 'read', method: 'GET', path: '/views/totals/k1' },
  { class: 'read', method: 'GET', path: '/views/totals' },
  {
    class: 'read',
    method: 'POST',
    path: '/sql',
    body: { topologies: ['bank'], query: 'SELECT count(*) AS n FROM events' },
  },
  {
    class: 'write',
    method: 'POST',
    path: '/commands/bank',
    body: { aggregateId: 'acc-1', type: 'Deposit', payload: { amount: 1 } },
  },
  { class: 'asset', method: 'GET', path: '/console/' },
  { class: 'asset', method: 'GET', path: '/console/app.js' },
  { class: 'read', method: 'GET', path: '/topologies' },
  { class: 'read', method: 'GET', path: '/cluster' },
  { class: 'read', method: 'GET', path: '/dead-letters/bank' },
  { class: 'read', method: 'GET', path: '/dead-letters/bank/0/5' },
  {
    class: 'write',
    method: 'POST',
    path: '/dead-letters/bank/replay',
    body: { records: [{ partition: 0, offset: '5' }] },
  },
] as const
