/**
 * Projections on the real broker: views equal an independent model of the committed events (projectAll over the
 * events topic) — in process; then across two worker processes with SIGKILLs and a rebalance, checked on the views
 * changelog AND on the local stores after a restart (each store a prefix of the changelog, brought to its end).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { resolveWorkerConfig } from '../../src/config/worker-config.ts'
import { isReservedKey } from '../../src/domain/envelopes.ts'
import { projectAll, type AnyProjection, type ProjectedEvent } from '../../src/domain/projection.ts'
import { loadTopologyFiles } from '../../src/cli/run.ts'
import { loadProjection } from '../../src/topology/projection-loader.ts'
import { Worker } from '../../src/worker/worker.ts'
import {
  bankWorkload,
  readTopic,
  sendCommands,
  spawnWorker,
  tempDir,
  waitForLog,
  waitForReplies,
  writeBankTopology,
  type Cmd,
  type WorkerProcess,
} from '../support/eos.ts'
import { kafkaBrokers, newKafka, pollUntil } from '../support/kafka.ts'
import { runCli } from '../cli/run-cli.ts'

const kafka = () => newKafka('projection-int')

/**
 * A projection keyed by event type, by a bucket of accounts and by account (a fan-out of three keys per event, two of
 * them not the aggregate: repartitioned). A view counts its events and the last version seen per account: an event
 * applied twice or missed shows in the counts.
 */
const PROJECTOR = `
export default {
  initialState: () => ({ events: 0, amount: 0, versions: {} }),
  key: (e) => [e.type, 'bucket-' + (e.aggregateId.length % 3), 'account:' + e.aggregateId],
  project: (v, e) => ({
    events: v.events + 1,
    amount: v.amount + (typeof e.payload.amount === 'number' ? e.payload.amount : 0),
    versions: { ...v.versions, [e.aggregateId]: Math.max(v.versions[e.aggregateId] ?? 0, e.version) },
  }),
}
`

/** The projector changed: views per event type only, counting amounts in units of 100. */
const PROJECTOR_V2 = `
export default {
  version: 2,
  initialState: () => ({ events: 0, hundreds: 0 }),
  key: (e) => e.type,
  project: (v, e) => ({ events: v.events + 1, hundreds: v.hundreds + Math.floor((e.payload.amount ?? 0) / 100) }),
}
`

function writeProjection(dir: string, name: string, bankFile: string): string {
  writeFileSync(path.join(dir, `${name}.mjs`), PROJECTOR)
  const file = path.join(dir, `${name}.yaml`)
  writeFileSync(
    file,
    `kind: projection\nname: ${name}\nprojection: ./${name}.mjs\nsources:\n  - topology: ./${path.basename(bankFile)}\npartitions: 4\nprocessing:\n  maxBatchEvents: 200\n`,
  )
  return file
}

/** The model: projectAll over the committed events of the events topic, in each partition's order. */
async function expectedViews(p: AnyProjection, eventsTopic: string): Promise<Map<string, unknown>> {
  const events = (await readTopic(kafka(), eventsTopic)).filter((r) => r.key !== null && r.value !== null)
  events.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))
  return projectAll(
    p,
    events.map((r) => r.value as ProjectedEvent),
  )
}

/** The views on the changelog topic: the last record of each key (null: deleted). */
async function changelogViews(topic: string): Promise<Map<string, unknown>> {
  const views = new Map<string, unknown>()
  for (const r of await readTopic(kafka(), topic)) {
    if (r.key === null || isReservedKey(r.key)) continue
    if (r.value === null) views.delete(r.key)
    else views.set(r.key, r.value)
  }
  return views
}

async function storeViews(worker: Worker): Promise<Map<string, unknown>> {
  const views = new Map<string, unknown>()
  for (const task of worker.projectionRunners[0]!.tasks.values())
    for (const { key, view } of await task.views({ limit: 1_000_000 })) views.set(key, view)
  return views
}

const sorted = (m: Map<string, unknown>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1))

function inProcess(stateDir: string, files: { topologies: string[] }) {
  return async (): Promise<Worker> => {
    const { topologies, projections } = await loadTopologyFiles(files.topologies)
    const w = new Worker({
      topologies,
      projections,
      config: resolveWorkerConfig(
        { kafka: { brokers: kafkaBrokers() }, stateDir, http: { enabled: false }, log: { level: 'silent' } },
        {},
      ),
      logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    })
    await w.start()
    const ready = await pollUntil(
      async () => w.isReady(),
      (r) => r,
      90_000,
    )
    if (!ready) throw new Error(`worker not ready within 90 s: ${w.readiness().reason}`)
    return w
  }
}

describe('projections (real broker)', () => {
  const dir = tempDir('projection')
  const workers: WorkerProcess[] = []
  let inproc: Worker | undefined
  afterAll(async () => {
    await inproc?.stop()
    for (const w of workers) w.kill('SIGKILL')
  })

  it('in process: views == the model of the committed events; a clean restart replays ~nothing', async () => {
    const bank = writeBankTopology(dir, `bank-p1-${Date.now()}`)
    const projFile = writeProjection(dir, `proj1-${Date.now()}`, bank)
    const projection = await loadProjection(projFile)
    const stateDir = path.join(dir, 'state1')
    const start = inProcess(stateDir, { topologies: [bank, projFile] })
    inproc = await start()
    const cmds = bankWorkload(11, 40, 800)
    const bankTopics = projection.sources[0]!.topology!.topics
    await sendCommands(kafka(), bankTopics.commands, cmds)
    await waitForReplies(kafka(), bankTopics.replies, cmds.length, 90_000)
    const expected = await expectedViews(projection.projection, bankTopics.events)
    expect(expected.size).toBeGreaterThan(40)
    const views = await pollUntil(
      async () => sorted(await storeViews(inproc!)),
      (v) => isDeepStrictEqual(v, sorted(expected)),
      60_000,
    )
    expect(views).toEqual(sorted(expected))
    expect(sorted(await changelogViews(projection.topics.changelog))).toEqual(sorted(expected))
    await inproc.stop()
    inproc = await start()
    const replayed = [...inproc.projectionRunners[0]!.tasks.values()].map((t) => t.lastRestoreRecords)
    expect(replayed.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(replayed.length * 2)
    expect(sorted(await storeViews(inproc))).toEqual(sorted(expected))

    // A changed projector: refused while a worker runs; once stopped, rebuild, and the views are the new projector's.
    const env = { KAFKA_BROKERS: kafkaBrokers().join(','), DECIDER_STATE_DIR: stateDir }
    const refused = await runCli(['rebuild', projFile], env, 60_000)
    expect([refused.code, refused.stderr]).toEqual([2, expect.stringMatching(/stop the workers/)])
    await inproc.stop()
    // A new module file (this process has the old one in its import cache), the same projection name.
    writeFileSync(projFile.replace(/\.yaml$/, '-v2.mjs'), PROJECTOR_V2)
    writeFileSync(projFile, readFileSync(projFile, 'utf8').replace(/\.mjs$/m, '-v2.mjs'))
    const rebuilt = await runCli(['rebuild', projFile], env, 120_000)
    expect(rebuilt.code, rebuilt.stderr).toBe(0)
    const v2 = await loadProjection(projFile)
    const expected2 = await expectedViews(v2.projection, bankTopics.events)
    expect(sorted(expected2)).not.toEqual(sorted(expected))
    inproc = await start()
    const views2 = await pollUntil(
      async () => sorted(await storeViews(inproc!)),
      (v) => isDeepStrictEqual(v, sorted(expected2)),
      60_000,
    )
    expect(views2).toEqual(sorted(expected2))
    expect(sorted(await changelogViews(v2.topics.changelog))).toEqual(sorted(expected2))
    await inproc.stop()
    inproc = undefined
  }, 240_000)

  it('two worker processes, SIGKILLs and a rebalance: changelog and every local store == the model', async () => {
    const bank = writeBankTopology(dir, `bank-p2-${Date.now()}`)
    const projFile = writeProjection(dir, `proj2-${Date.now()}`, bank)
    const projection = await loadProjection(projFile)
    const bankTopics = projection.sources[0]!.topology!.topics
    const stateA = path.join(dir, 'stateA')
    const stateB = path.join(dir, 'stateB')
    const files = [bank, projFile]
    const t0 = Date.now()
    const at = (what: string) =>
      console.log(`[projection] ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    const a = spawnWorker(files, stateA)
    const b = spawnWorker(files, stateB)
    workers.push(a, b)
    await waitForLog(a, /worker ready|listening/i, 1, 90_000).catch(() => undefined)
    const cmds: Cmd[] = bankWorkload(12, 60, 3000)
    const third = Math.floor(cmds.length / 3)
    await sendCommands(kafka(), bankTopics.commands, cmds.slice(0, third), { chunk: 100, pauseMs: 20 })
    at('first third sent')
    b.kill('SIGKILL')
    await b.exited
    await sendCommands(kafka(), bankTopics.commands, cmds.slice(third, 2 * third), {
      chunk: 100,
      pauseMs: 20,
    })
    const b2 = spawnWorker(files, stateB)
    workers.push(b2)
    await sendCommands(kafka(), bankTopics.commands, cmds.slice(2 * third), { chunk: 100, pauseMs: 20 })
    a.kill('SIGKILL')
    await a.exited
    const a2 = spawnWorker(files, stateA)
    workers.push(a2)
    await waitForReplies(kafka(), bankTopics.replies, cmds.length, 180_000)
    at('all replies')
    const expected = await expectedViews(projection.projection, bankTopics.events)
    const last = await pollUntil(
      async () => sorted(await changelogViews(projection.topics.changelog)),
      (v) => isDeepStrictEqual(v, sorted(expected)),
      120_000,
    )
    expect(last).toEqual(sorted(expected))
    at('changelog == model')
    a2.kill('SIGTERM')
    b2.kill('SIGTERM')
    await Promise.all([a2.exited, b2.exited])
    // Each state dir alone, after the kills: restored (O(delta)) to the changelog's end, it holds every view.
    for (const stateDir of [stateA, stateB]) {
      inproc = await inProcess(stateDir, { topologies: files })()
      expect(sorted(await storeViews(inproc))).toEqual(sorted(expected))
      await inproc.stop()
      inproc = undefined
      at(`store ${path.basename(stateDir)} == model`)
    }
  }, 420_000)
})
