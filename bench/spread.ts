/**
 * 6. Latency with many aggregates and cache-hostile access: `aggregates` snapshots seeded into the changelog (as the
 * scale and failover phases do), one worker that restores them, then Deposit commands at a fixed rate to aggregates
 * drawn at random over all of them (so nearly every command misses the snapshot cache and reads LevelDB). After a
 * warm-up, the commands sent during `seconds` are measured: command -> reply visible to a read_committed consumer,
 * p50/p99/max; and the worker's CPU and GC pauses per 1,000 commands over the same window.
 */
import path from 'node:path'
import type { Admin, Kafka } from 'kafkajs'
import type { WorkerProcess } from '../scripts/eos/bank.ts'
import { cpuSeconds } from './cpu.ts'
import { FixedRateLoad } from './failover-load.ts'
import { fillChangelog } from './fill.ts'
import { prepareTopology } from './topics.ts'
import type { SpreadResult } from './types.ts'
import { now, sleep } from './util.ts'
import { kafka_brokers, scrape, startWorker, stopWorkers, waitReady } from './workers.ts'

export async function spreadPhase(
  kafka: Kafka,
  admin: Admin,
  dir: string,
  name: string,
  o: { aggregates: number; rate: number; seconds: number; warmupSeconds: number },
  all: WorkerProcess[],
  log: (m: string) => void,
): Promise<SpreadResult> {
  const { file, topology } = await prepareTopology(admin, dir, name)
  await fillChangelog(kafka, topology, o.aggregates)
  const w = await startWorker(file, path.join(dir, `${name}-state`), kafka_brokers(kafka), all)
  const load = new FixedRateLoad(kafka, topology, o.aggregates, o.rate)
  try {
    await waitReady([w], 900_000)
    log(`bench:    ${o.aggregates} aggregates restored; ${o.rate} commands/s to random ones`)
    const alive = () => {
      if (w.w.proc.exitCode !== null || w.w.proc.signalCode !== null)
        throw new Error(`the worker exited:\n${w.w.output().slice(-3000)}`)
    }
    await load.start()
    const t0 = now()
    const warmEnd = t0 + o.warmupSeconds * 1000
    while (now() < warmEnd) {
      await sleep(100)
      alive()
    }
    const from = now()
    const m0 = await scrape([w])
    const cpu0 = cpuSeconds(w.w.proc.pid)
    const end = from + o.seconds * 1000
    while (now() < end) {
      await sleep(100)
      alive()
    }
    const to = now()
    const m1 = await scrape([w])
    const cpu1 = cpuSeconds(w.w.proc.pid)
    await load.stop()
    await load.drain(60_000, alive)
    const inWindow = (i: number) => load.sentAt[i]! >= from && load.sentAt[i]! < to
    const commands = load.summary(inWindow).sent
    const per1k = (v: number) => (commands > 0 ? (v / commands) * 1000 : NaN)
    return {
      aggregates: o.aggregates,
      rate: o.rate,
      seconds: o.seconds,
      visible: load.summary(inWindow, 'visible'),
      written: load.summary(inWindow, 'written'),
      workerCpuPer1k: per1k(cpu1 - cpu0),
      gcMinorPer1k: per1k(m1.gcMinor - m0.gcMinor),
      gcMajorPer1k: per1k(m1.gcMajor - m0.gcMajor),
    }
  } finally {
    await load.stop().catch(() => undefined)
    await load.close()
    await stopWorkers([w.w])
  }
}
