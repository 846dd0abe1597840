/**
 * `node --import tsx scripts/console-scale.ts [--aggregates 1000000] [--dir d]`: does the web console stay fast
 * with a million aggregates in the store? Fills ONE task's real LevelDB store (LevelSnapshotStore, the event index
 * the workers keep) with that many aggregates (one event each, plus one aggregate with a 1200-event history and a
 * correction), serves the worker's real HTTP routes over it (events, as-of state, catalog, console files), and
 * times, in headless chromium, each page of the console from navigation to its content shown. Prints the times;
 * exits 1 when one is above 1 s. A one-off check (minutes of disk writes), not part of `npm test`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { chromium } from 'playwright-core'
import { encode } from '../src/domain/codec.ts'
import type { AnyDecider } from '../src/domain/decider.ts'
import { asOfQuery } from '../src/http/as-of.ts'
import { catalogQuery, consoleFiles } from '../src/http/console.ts'
import { clusterQuery } from '../src/http/cluster.ts'
import { eventQueries, type EventQueryableTask } from '../src/http/events.ts'
import { startHttp } from '../src/http/server.ts'
import { stateQuery } from '../src/http/state.ts'
import { createMetrics } from '../src/metrics/metrics.ts'
import { TaskState } from '../src/runtime/task-state.ts'
import { LevelSnapshotStore } from '../src/state/level-store.ts'
import { upcastEvent } from '../src/domain/upcasting.ts'
import type { IndexedEvent } from '../src/state/event-index.ts'
import { fromDecider } from '../src/topology/loader.ts'
import bank from '../topologies/bank-account.ts'
import { buildConsole } from './build-console.ts'

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name)
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt
}
const AGGREGATES = Number(arg('--aggregates', '1000000'))
const dir = arg('--dir', mkdtempSync(path.join(tmpdir(), 'console-scale-')))
const BATCH = 20_000
/** Events of the one long aggregate: more than one page of the timeline (500). */
const HISTORY = 1200

const topology = fromDecider(bank as unknown as AnyDecider, { name: 'bank', partitions: 1 })
const event = (aggregateId: string, version: number, type: string, payload: unknown, extra = {}) => ({
  eventId: `${aggregateId}@${version}`,
  type,
  aggregateId,
  version,
  payload,
  commandId: `c-${aggregateId}-${version}`,
  correlationId: `c-${aggregateId}-${version}`,
  causationId: `c-${aggregateId}-${version}`,
  eventTime: new Date(Date.UTC(2026, 0, 1) + version * 3_600_000).toISOString(),
  recordedAt: new Date(Date.UTC(2026, 0, 1) + version * 3_600_000 + 1000).toISOString(),
  schemaVersion: 1,
  ...extra,
})

const store = await LevelSnapshotStore.open(path.join(dir, 'bank', '0'), {
  topology: 'bank',
  changelogTopic: 'bank-snapshots-changelog',
  partition: 0,
})
let offset = 0n
const started = performance.now()
for (let from = 0; from < AGGREGATES; from += BATCH) {
  const events: IndexedEvent[] = []
  for (let i = from; i < Math.min(from + BATCH, AGGREGATES); i++) {
    const id = `acc-${i}`
    events.push({
      aggregateId: id,
      version: 1,
      offset: offset++,
      value: encode(event(id, 1, 'AccountCreated', { owner: `Owner ${i}` }), 'msgpack'),
    })
  }
  await store.write([], { changelogOffset: 0n, inputOffset: BigInt(from) }, events)
}
const target = 'acc-history'
const history: IndexedEvent[] = [
  {
    aggregateId: target,
    version: 1,
    offset: offset++,
    value: encode(event(target, 1, 'AccountCreated', { owner: 'Ada' }), 'msgpack'),
  },
]
let balance = 0
for (let v = 2; v <= HISTORY - 1; v++) {
  balance += 10 * v
  history.push({
    aggregateId: target,
    version: v,
    offset: offset++,
    value: encode(event(target, v, 'MoneyDeposited', { amount: 10 * v, balance }), 'msgpack'),
  })
}
history.push({
  aggregateId: target,
  version: HISTORY,
  offset: offset++,
  value: encode(
    event(
      target,
      41,
      'DepositCorrected',
      { difference: 5, balance: balance + 5 },
      { corrects: [`${target}@2`], correctionReason: 'typo' },
    ),
    'msgpack',
  ),
})
await store.write([], { changelogOffset: 0n, inputOffset: BigInt(AGGREGATES) }, history)
console.log(
  `store: ${AGGREGATES + 1} aggregates, ${offset} events written in ${((performance.now() - started) / 1000).toFixed(1)} s (${dir})`,
)

const task: EventQueryableTask = {
  state: TaskState.RUNNING,
  committedSnapshot: async () => undefined,
  committedEvents: (id, range) => store.events(id, range),
  committedEventsFrom: (o, limit) => store.eventsFrom(o, limit),
}
const runners = [{ name: 'bank', tasks: new Map([[0, task]]) }]
await buildConsole({ quiet: true })
const server = await startHttp({
  host: '127.0.0.1',
  port: 0,
  registry: createMetrics().registry,
  readiness: () => ({ ready: true }),
  state: stateQuery([topology], () => runners),
  events: eventQueries([topology], () => runners),
  asOf: asOfQuery([topology], () => runners, upcastEvent),
  consoleFiles: consoleFiles(),
  catalog: catalogQuery({ topologies: [topology], projections: [], commands: false }),
  cluster: clusterQuery({
    groups: [{ name: 'bank', kind: 'topology', partitions: 1 }],
    local: async () => ({
      url: 'http://scale',
      ready: true,
      at: Date.now(),
      groups: [
        {
          name: 'bank',
          kind: 'topology',
          tasks: [{ partition: 0, state: 'RUNNING', lag: 0 }],
          standbys: [],
          counters: { commands: {}, events: 0, deadLetters: 0 },
        },
      ],
    }),
    owners: () => ({ ownerOf: async () => ({ found: true, url: 'http://scale', memberId: 'm' }) }),
    self: () => 'http://scale',
    timeoutMs: 1000,
  }),
})
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox'],
})
let worst = 0
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  await page.goto(`${base}/console/`)
  await page.waitForSelector('[data-testid=permissions]')
  const time = async (hash: string, selector: string) => {
    const t0 = Date.now()
    await page.evaluate((h) => {
      document.getElementById('main')!.replaceChildren()
      location.hash = h
    }, hash)
    await page.waitForSelector(selector, { timeout: 30_000 })
    const ms = Date.now() - t0
    worst = Math.max(worst, ms)
    console.log(`${String(ms).padStart(5)} ms  ${hash}`)
  }
  for (let round = 0; round < 2; round++) {
    await time('#/', '[data-testid="partitions-bank"] tbody tr')
    await time(`#/aggregate/bank/${target}`, '[data-testid=diff] table')
    await time(`#/aggregate/bank/${target}?version=20&a=1&b=${HISTORY}`, '[data-testid=diff] table')
    await time(`#/aggregate/bank/${target}?from=501`, '[data-testid=diff] table')
    await time(`#/aggregate/bank/${target}?eventTimeAsOf=2026-01-01T10:00:00Z`, '[data-testid=state-json]')
    await time(`#/aggregate/bank/acc-${Math.floor(AGGREGATES / 2)}`, '[data-testid=state-json]')
    await time(`#/aggregate/bank/acc-${AGGREGATES - 1}`, '[data-testid=state-json]')
    await time(`#/aggregate/bank/no-such-account`, '[data-testid=no-events]')
    await time(`#/send/bank`, '[data-testid=send-form]')
  }
} finally {
  await browser.close()
  await new Promise<void>((r) => server.close(() => r()))
  await store.close()
  if (!process.argv.includes('--keep')) rmSync(dir, { recursive: true, force: true })
}
console.log(`slowest page: ${worst} ms (budget 1000 ms)`)
process.exitCode = worst <= 1000 ? 0 : 1
