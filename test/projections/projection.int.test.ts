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
import { loadTopologyFiles } from '../../src/cli/run.ts'
import { loadProjection } from '../../src/topology/projection-loader.ts'
import { Worker } from '../../src/worker/worker.ts'
import {
  bankWorkload,
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
import { TaskState } from '../../src/runtime/task-state.ts'
import { runCli } from '../cli/run-cli.ts'
import {
  changelogViews,
  expectedViews,
  sortedEntries,
  writeProjection,
} from '../../scripts/eos/projection-check.ts'

const kafka = () => newKafka('projection-int')

/** The projector changed: views per event type only, counting amounts in units of 100. */
const PROJECTOR_V2 = `
export default {
  version: 2,
  initialState: () => ({ events: 0, hundreds: 0 }),
  key: (e) => e.type,
  project: (v, e) => ({ events: v.events + 1, hundreds: v.hundreds + Math.floor((e.payload.amount ?? 0) / 100) }),
}
`

async function storeViews(worker: Worker): Promise<Map<string, unknown>> {
  const views = new Map<string, unknown>()
  for (const task of worker.projectionRunners[0]!.tasks.values())
    for (const { key, view } of await task.views({ limit: 1_000_000 })) views.set(key, view)
  return views
}

const sorted = sortedEntries

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
    const expected = await expectedViews(kafka(), projection)
    expect(expected.size).toBeGreaterThan(40)
    const views = await pollUntil(
      async () => sorted(await storeViews(inproc!)),
      (v) => isDeepStrictEqual(v, sorted(expected)),
      60_000,
    )
    expect(views).toEqual(sorted(expected))
    expect(sorted(await changelogViews(kafka(), projection.topics.changelog))).toEqual(sorted(expected))
    // The repartition topic is purged as it is applied (processing.purgeEvery: 100 here).
    const admin = kafka().admin()
    await admin.connect()
    const lows = (await admin.fetchTopicOffsets(projection.topics.repartition)).map((o) => Number(o.low))
    await admin.disconnect()
    expect(lows.some((low) => low > 0)).toBe(true)
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
    const expected2 = await expectedViews(kafka(), v2)
    expect(sorted(expected2)).not.toEqual(sorted(expected))
    inproc = await start()
    const views2 = await pollUntil(
      async () => sorted(await storeViews(inproc!)),
      (v) => isDeepStrictEqual(v, sorted(expected2)),
      60_000,
    )
    expect(views2).toEqual(sorted(expected2))
    expect(sorted(await changelogViews(kafka(), v2.topics.changelog))).toEqual(sorted(expected2))
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
    const expected = await expectedViews(kafka(), projection)
    const last = await pollUntil(
      async () => sorted(await changelogViews(kafka(), projection.topics.changelog)),
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
      // Alone, it must come to own every partition. Ready means its own partitions are RUNNING: a worker SIGTERMed
      // while it was still joining the group may leave a member behind until its session times out (6 s), which
      // holds some partitions until then.
      const worker = inproc
      const owned = await pollUntil(
        async () =>
          [...worker.projectionRunners[0]!.tasks.values()].filter((t) => t.state === TaskState.RUNNING)
            .length,
        (n) => n === projection.definition.partitions,
        60_000,
      )
      expect(owned).toBe(projection.definition.partitions)
      expect(sorted(await storeViews(inproc))).toEqual(sorted(expected))
      await inproc.stop()
      inproc = undefined
      at(`store ${path.basename(stateDir)} == model`)
    }
  }, 420_000)
})
