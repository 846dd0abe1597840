/**
 * Event versioning against the real broker, in order: the bank decider (v1) writes events and snapshots; the v2
 * decider (test/fixtures/bank-account-v2.ts: MoneyDeposited gains a currency, upcast from v1; stateVersion 2)
 * then runs over the same topics. The worker rebuilds a stale snapshot from its per-aggregate event index (v1 events
 * upcast) before deciding; so does a task on a new machine after restoring; `decider events` shows the v1 events
 * upcast; `decider rebuild` rewrites the remaining snapshots under stateVersion 2 from the upcast events; the v2 worker then decides on the right
 * state, and every aggregate's snapshot and event fold equal the plain model. Last, a correction: its link shown
 * both ways by `decider events` and by the worker's HTTP read (GET .../events, EventStoreClient.events), as
 * recorded and as corrected, over the upcast v1 events.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import pino from 'pino'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { EventStoreClient } from '../../src/client/event-store.ts'
import { resolveWorkerConfig } from '../../src/config/worker-config.ts'
import type { EventEnvelope, SnapshotRecord } from '../../src/domain/envelopes.ts'
import { upcastEvent } from '../../src/domain/upcasting.ts'
import { PartitionFetcher, RESTORE_FETCH } from '../../src/kafka/partition-fetcher.ts'
import { kafkaTaskPorts } from '../../src/kafka/task-ports.ts'
import { partitionOf } from '../../src/kafka/partitioner.ts'
import { Task } from '../../src/runtime/task.ts'
import { loadTopology } from '../../src/topology/loader.ts'
import { Worker } from '../../src/worker/worker.ts'
import bankV2, { modelV2 } from '../fixtures/bank-account-v2.ts'
import { readTopic, sendCommands, waitForReplies, type Cmd } from '../support/eos.ts'
import { kafkaBrokers, newKafka, uniqueName } from '../support/kafka.ts'
import { ROOT, runCli } from './run-cli.ts'

const name = uniqueName('versions')
const dir = mkdtempSync(path.join(tmpdir(), 'decider-versions-int-'))
const stateDir = path.join(dir, 'state')
const v1File = path.join(dir, 'v1.yaml')
const v2File = path.join(dir, 'v2.yaml')
const yaml = (decider: string) => [`name: ${name}`, `decider: ${decider}`, 'partitions: 2', ''].join('\n')
writeFileSync(v1File, yaml(path.join(ROOT, 'topologies/bank-account.ts')))
writeFileSync(v2File, yaml(path.join(ROOT, 'test/fixtures/bank-account-v2.ts')))
const env = () => ({ KAFKA_BROKERS: kafkaBrokers().join(','), DECIDER_STATE_DIR: stateDir })
const kafka = () => newKafka('versions-int')
type Shown = EventEnvelope & { correctedBy?: unknown }
/** The JSON lines `decider events` printed. */
const jsonLines = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Shown)
const ids = (events: Shown[]) => events.map((e) => e.eventId)
const AS_CORRECTED = ['acc-1@1', 'acc-1@3', 'acc-1@4', 'acc-1@5', 'acc-1@6', 'acc-1@7']

const ACCOUNTS = ['acc-0', 'acc-1', 'acc-2', 'acc-3']
const v1Commands: Cmd[] = ACCOUNTS.flatMap((id, i): Cmd[] => [
  { aggregateId: id, commandId: `${id}-create`, type: 'CreateAccount', payload: { owner: `owner-${i}` } },
  { aggregateId: id, commandId: `${id}-dep-1`, type: 'Deposit', payload: { amount: 100 + i } },
  { aggregateId: id, commandId: `${id}-dep-2`, type: 'Deposit', payload: { amount: 7 } },
  { aggregateId: id, commandId: `${id}-wd-1`, type: 'Withdraw', payload: { amount: 50 } },
  { aggregateId: id, commandId: `${id}-wd-2`, type: 'Withdraw', payload: { amount: 10_000 } },
])
/** Sent to the v2 worker before the rebuild: it must not be decided on a stale snapshot. */
const early: Cmd = { aggregateId: 'acc-0', commandId: 'acc-0-early', type: 'Deposit', payload: { amount: 1 } }
const v2Commands: Cmd[] = ACCOUNTS.flatMap((id): Cmd[] => [
  { aggregateId: id, commandId: `${id}-dep-3`, type: 'Deposit', payload: { amount: 3 } },
  { aggregateId: id, commandId: `${id}-wd-3`, type: 'Withdraw', payload: { amount: 60 } },
])
const all = [...v1Commands, early, ...v2Commands]
const modelOf = (id: string) => modelV2(all.filter((c) => c.aggregateId === id))

let worker: Worker | undefined
afterAll(async () => {
  await worker?.stop()
})

/** An in-process worker for one topology file (HTTP on a free port with `http`); log lines go to `lines`. */
async function startWorker(file: string, lines: string[] = [], http = false): Promise<Worker> {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString())
      done()
    },
  })
  const w = new Worker({
    topologies: [await loadTopology(file)],
    config: resolveWorkerConfig(
      {
        kafka: { brokers: kafkaBrokers() },
        stateDir,
        http: http ? { host: '127.0.0.1', port: 0 } : { enabled: false },
        log: { level: 'silent' },
      },
      {},
    ),
    logger: pino({ level: 'info' }, sink),
  })
  await w.start()
  const deadline = Date.now() + 60_000
  while (!w.isReady()) {
    if (Date.now() > deadline) throw new Error('worker not ready within 60 s')
    await new Promise((r) => setTimeout(r, 100))
  }
  return w
}

async function latestSnapshots(): Promise<Map<string, SnapshotRecord>> {
  const out = new Map<string, SnapshotRecord>()
  const records = await readTopic(kafka(), `${name}-snapshots-changelog`)
  records.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))
  for (const r of records)
    if (r.key !== null && !r.key.startsWith('\u0000')) out.set(r.key, r.value as SnapshotRecord)
  return out
}

async function storedEvents(id: string): Promise<EventEnvelope[]> {
  const records = await readTopic(kafka(), `${name}.events`)
  return records
    .filter((r) => r.key === id)
    .map((r) => r.value as EventEnvelope)
    .sort((a, b) => a.version - b.version)
}

describe('event versioning on a real broker', () => {
  it('the v1 decider writes v1 events and stateVersion 1 snapshots', async () => {
    worker = await startWorker(v1File)
    await sendCommands(kafka(), `${name}.commands`, v1Commands)
    await waitForReplies(kafka(), `${name}.replies`, v1Commands.length, 60_000)
    await worker.stop()
    worker = undefined
    const deposits = (await storedEvents('acc-1')).filter((e) => e.type === 'MoneyDeposited')
    expect(deposits.map((e) => [e.schemaVersion, e.payload])).toEqual([
      [1, { amount: 101, balance: 101 }],
      [1, { amount: 7, balance: 108 }],
    ])
    expect((await latestSnapshots()).get('acc-1')).toMatchObject({ version: 4, stateVersion: 1 })
  }, 120_000)

  it('the v2 worker rebuilds a stale snapshot from its event index (v1 events upcast) and decides on it', async () => {
    worker = await startWorker(v2File)
    await sendCommands(kafka(), `${name}.commands`, [early])
    const replies = await waitForReplies(kafka(), `${name}.replies`, v1Commands.length + 1, 60_000)
    await worker.stop()
    worker = undefined
    const reply = replies.map((r) => r.value as { commandId: string; status: string; version: number })
    expect(reply.filter((r) => r.commandId === early.commandId)).toEqual([
      expect.objectContaining({ status: 'accepted', version: 5 }),
    ])
    // Written back under stateVersion 2: the v1 history upcast and folded by v2, then the early deposit.
    const modelEarly = modelV2([...v1Commands, early].filter((c) => c.aggregateId === 'acc-0'))
    expect((await latestSnapshots()).get('acc-0')).toMatchObject({
      version: 5,
      stateVersion: 2,
      state: modelEarly,
    })
    expect((await latestSnapshots()).get('acc-1')).toMatchObject({ version: 4, stateVersion: 1 })
  }, 120_000)

  it('on a new machine, a v2 task restores the snapshots and its event index, and rebuilds each stale snapshot from its upcast events', async () => {
    const silent = pino({ level: 'silent' })
    const topology = await loadTopology(v2File)
    const k = kafka()
    const admin = k.admin()
    await admin.connect()
    const fetcher = new PartitionFetcher(k, RESTORE_FETCH)
    let checked = 0
    try {
      for (const p of [0, 1]) {
        const ports = kafkaTaskPorts({
          kafka: k,
          admin,
          topology,
          partition: p,
          stateDir: mkdtempSync(path.join(dir, 'fresh-')), // a new machine: the store restores the changelog
          fetcher,
          partitionCounts: new Map(Object.values(topology.topics).map((t) => [t, 2])),
        })
        const task = new Task({
          topology,
          partition: p,
          ports,
          logger: silent,
          partitioner: partitionOf,
        })
        try {
          await task.initialize()
          expect(task.lastRestoreRecords).toBeGreaterThan(0)
          for (const id of ACCOUNTS.filter((a) => partitionOf(Buffer.from(a), 2) === p)) {
            const sent = [...v1Commands, early].filter((c) => c.aggregateId === id)
            expect(await task.committedSnapshot(id)).toMatchObject({
              version: id === 'acc-0' ? 5 : 4,
              stateVersion: 2,
              state: modelV2(sent),
            })
            checked++
          }
        } finally {
          await task.close()
        }
      }
    } finally {
      await admin.disconnect()
    }
    expect(checked).toBe(ACCOUNTS.length)
  }, 120_000)

  it('decider events with the v2 topology prints the v1 events upcast; --raw prints them as stored', async () => {
    const r = await runCli(['events', v2File, 'acc-2', '--timeout', '20000'], env())
    expect(r.code, r.stderr).toBe(0)
    const events = jsonLines(r.stdout)
    expect(events.map((e) => [e.type, e.schemaVersion])).toEqual([
      ['AccountCreated', 1],
      ['MoneyDeposited', 2],
      ['MoneyDeposited', 2],
      ['MoneyWithdrawn', 1],
    ])
    expect(events[1]!.payload).toEqual({ amount: 102, balance: 102, currency: 'EUR' })
    const raw = await runCli(['events', v2File, 'acc-2', '--raw', '--timeout', '20000'], env())
    expect(raw.code, raw.stderr).toBe(0)
    expect(JSON.parse(raw.stdout.trim().split('\n')[1]!)).toMatchObject({
      schemaVersion: 1,
      payload: { amount: 102, balance: 102 },
    })
  }, 60_000)

  it('decider rebuild with v2 rewrites every snapshot under stateVersion 2 from the upcast events', async () => {
    const r = await runCli(['rebuild', v2File, '--timeout', '20000'], env(), 60_000)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(
      'acc-1: changelog version 4 (stateVersion 1) {"status":"open","owner":"owner-1","balance":58} -> replayed version 4 {"status":"open","owner":"owner-1","balance":58,"deposits":2}',
    )
    // acc-0 was rewritten under stateVersion 2 by the worker already.
    expect(r.stdout).toMatch(/4 aggregate\(s\) checked, 3 difference\(s\); 3 snapshot\(s\) rewritten/)
    const snapshots = await latestSnapshots()
    for (const id of ACCOUNTS) {
      const sent = [...v1Commands, early].filter((c) => c.aggregateId === id)
      expect(snapshots.get(id)).toMatchObject({
        version: id === 'acc-0' ? 5 : 4, // 4 v1 events each; acc-0 also the early deposit
        stateVersion: 2,
        state: modelV2(sent),
      })
      expect(snapshots.get(id)!.recent.length).toBeGreaterThan(0) // the dedupe window is kept
    }
    const again = await runCli(['rebuild', v2File, '--dry-run', '--timeout', '20000'], env(), 60_000)
    expect(again.stdout).toMatch(/no differences/)
  }, 120_000)

  it('the v2 worker then decides on the rebuilt state: snapshots and event folds equal the model', async () => {
    worker = await startWorker(v2File)
    await sendCommands(kafka(), `${name}.commands`, v2Commands)
    const replies = await waitForReplies(kafka(), `${name}.replies`, all.length, 60_000)
    await worker.stop()
    worker = undefined
    const statusOf = (id: string) =>
      replies.map((r) => r.value as { commandId: string; status: string }).filter((r) => r.commandId === id)
    expect(statusOf(early.commandId)).toEqual([expect.objectContaining({ status: 'accepted' })])
    for (const c of v2Commands)
      expect(statusOf(c.commandId)).toEqual([expect.objectContaining({ status: 'accepted' })])

    const snapshots = await latestSnapshots()
    for (const id of ACCOUNTS) {
      const model = modelOf(id)
      const events = await storedEvents(id)
      expect(snapshots.get(id)).toMatchObject({ version: events.length, stateVersion: 2, state: model })
      let folded = bankV2.initialState()
      for (const e of events) folded = bankV2.evolve(folded, upcastEvent(bankV2, e) as never)
      expect(folded).toEqual(model)
      // New deposits are written at schemaVersion 2 with their currency; the v1 ones stay as recorded.
      const deposits = events.filter((e) => e.type === 'MoneyDeposited')
      expect(deposits.map((e) => e.schemaVersion)).toEqual(id === 'acc-0' ? [1, 1, 2, 2] : [1, 1, 2])
      expect(deposits.at(-1)!.payload).toMatchObject({ currency: 'EUR' })
    }
    // The local store (state --state-dir) agrees.
    const local = await runCli(['state', v2File, 'acc-3', '--state-dir', stateDir], env())
    expect(local.code, local.stderr).toBe(0)
    expect(JSON.parse(local.stdout)).toMatchObject({ stateVersion: 2, state: modelOf('acc-3') })
  }, 120_000)

  it('a correction on the real broker: the event names the deposit; decider events and HTTP show the link, as recorded and as corrected', async () => {
    worker = await startWorker(v2File, [], true)
    const fix: Cmd = {
      aggregateId: 'acc-1',
      commandId: 'acc-1-fix',
      type: 'CorrectDeposit' as Cmd['type'],
      payload: { eventId: 'acc-1@2', difference: -1, reason: 'the slip says 100' },
    }
    await sendCommands(kafka(), `${name}.commands`, [fix])
    const replies = await waitForReplies(kafka(), `${name}.replies`, all.length + 1, 60_000)
    await httpShowsTheCorrection(worker.httpAddress!)
    await worker.stop()
    worker = undefined
    expect(
      replies.map((r) => r.value).find((r) => (r as { commandId: string }).commandId === fix.commandId),
    ).toMatchObject({ status: 'accepted', version: 7, events: [['DepositCorrected', 7]] })
    const recorded = await runCli(['events', v2File, 'acc-1', '--timeout', '20000'], env())
    expect(recorded.code, recorded.stderr).toBe(0)
    const lines = jsonLines(recorded.stdout)
    expect(lines[1]).toMatchObject({
      eventId: 'acc-1@2',
      correctedBy: [{ eventId: 'acc-1@7', reason: 'the slip says 100' }],
    })
    expect(lines[6]).toMatchObject({
      eventId: 'acc-1@7',
      type: 'DepositCorrected',
      corrects: ['acc-1@2'],
      correctionReason: 'the slip says 100',
      payload: { difference: -1, balance: modelOf('acc-1').balance - 1 },
    })
    const corrected = await runCli(
      ['events', v2File, 'acc-1', '--history', 'corrected', '--timeout', '20000'],
      env(),
    )
    expect(corrected.code, corrected.stderr).toBe(0)
    expect(ids(jsonLines(corrected.stdout))).toEqual(AS_CORRECTED)
    const snapshot = (await latestSnapshots()).get('acc-1')
    expect(snapshot).toMatchObject({
      version: 7,
      state: { ...modelOf('acc-1'), balance: modelOf('acc-1').balance - 1 },
    })
  }, 120_000)
})

/** The worker's HTTP read of acc-1 after the correction of acc-1@2 by acc-1@7 (v1 events upcast by the v2 worker). */
async function httpShowsTheCorrection(url: string): Promise<void> {
  const get = async (query: string) => {
    const res = await fetch(`${url}/aggregates/${name}/acc-1/events${query}`)
    expect(res.status).toBe(200)
    return ((await res.json()) as { events: { event: Shown }[] }).events.map((e) => e.event)
  }
  // The index trails the reply by the moment between the commit and the store write.
  const seven = async () => ((await get('')).length === 7 ? get('') : Promise.reject(new Error('not yet')))
  const recorded = await vi.waitFor(seven, { timeout: 20_000, interval: 100 })
  expect(recorded[1]).toMatchObject({
    eventId: 'acc-1@2',
    schemaVersion: 2,
    payload: { amount: 101, balance: 101, currency: 'EUR' },
    correctedBy: [{ eventId: 'acc-1@7', reason: 'the slip says 100' }],
  })
  expect(recorded[6]).toMatchObject({ corrects: ['acc-1@2'], correctionReason: 'the slip says 100' })
  expect(ids(recorded.filter((e) => e.correctedBy !== undefined))).toEqual(['acc-1@2'])
  expect(ids(await get('?history=corrected'))).toEqual(AS_CORRECTED)
  // A range that ends before the correction still shows the link; raw: as stored (v1, no marks).
  expect(await get('?fromVersion=2&toVersion=2')).toEqual([recorded[1]])
  expect((await get('?raw=true'))[1]).toEqual((await storedEvents('acc-1'))[1])
  const client = new EventStoreClient({ url })
  expect((await client.events(name, 'acc-1')).map((e) => e.event)).toEqual(recorded)
  const corrected = await client.events(name, 'acc-1', { history: 'corrected' })
  expect(ids(corrected.map((e) => e.event))).toEqual(AS_CORRECTED)
  // decider events through the worker: the same.
  const cli = await runCli(['events', v2File, 'acc-1', '--url', url, '--history', 'corrected'], env())
  expect(cli.code, cli.stderr).toBe(0)
  expect(ids(jsonLines(cli.stdout))).toEqual(AS_CORRECTED)
}
