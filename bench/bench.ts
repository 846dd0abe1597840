/**
 * `npm run bench` (issue 6): baselines, exactly-once throughput and latency, scale (restore, restart, RSS) and
 * scale-out, against one broker. `runBench(options)` is the entry function (scripts/bench.ts is the CLI, the smoke
 * test calls it with tiny parameters). Every loop and wait here is bounded; every process started is stopped.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { Kafka, logLevel } from 'kafkajs'
import { ensureKafkaJars, startKafka, type KafkaHandle } from '../src/devkafka/index.ts'
import { tempDir, type WorkerProcess } from '../scripts/eos/bank.ts'
import { atLeastOnceLoop, producerPerformance } from './baselines.ts'
import { measureLatency } from './latency.ts'
import { machineInfo } from './machine.ts'
import { scalePhase } from './scale.ts'
import { eosThroughput } from './throughput.ts'
import { bankCommands, createTopics, setTopologyExtra } from './topics.ts'
import type { BenchOptions, BenchResult, Throughput } from './types.ts'
import { now } from './util.ts'
import { brokersOf, stopWorkers } from './workers.ts'

export type { BenchOptions, BenchResult, Latency, Throughput } from './types.ts'
export { bankCommands } from './topics.ts'
export { percentile } from './latency.ts'
export { metricSum } from './workers.ts'

const ROOT = path.resolve(import.meta.dirname, '..')

export const DEFAULT_OPTIONS: BenchOptions = {
  backlog: 60_000,
  accounts: 10_000,
  latencySeconds: 15,
  aggregates: 1_000_000,
  workers: [1, 2, 3],
  recordSize: 200,
  perfRecords: 500_000,
  resultsDir: path.join(ROOT, 'bench/results'),
}

export async function runBench(partial: Partial<BenchOptions> = {}): Promise<BenchResult> {
  const o: BenchOptions = { ...DEFAULT_OPTIONS, ...partial }
  const log = o.log ?? (() => undefined)
  const started = Date.now()
  const t0 = now()
  let broker: KafkaHandle | undefined
  const jars = await ensureKafkaJars({ log })
  if (!o.brokers || o.brokers.length === 0) {
    log('bench: starting a local single-node broker')
    broker = await startKafka({ jars, heapMb: 1024 })
  }
  const brokers = o.brokers && o.brokers.length > 0 ? o.brokers : broker!.brokers
  const kafka = new Kafka({
    clientId: 'kd-bench',
    brokers,
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 100, retries: 8 },
  })
  brokersOf.set(kafka, brokers)
  const admin = kafka.admin()
  await admin.connect()
  const dir = tempDir('bench')
  const workers: WorkerProcess[] = []
  const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`
  setTopologyExtra(o.dedupeWindow !== undefined ? `dedupe:\n  perAggregate: ${o.dedupeWindow}\n` : '')
  try {
    const machine = machineInfo()

    // 1a. The broker's transactional produce ceiling.
    log('bench: 1a ProducerPerformance (transactional)')
    const ppTopic = `bench-pp-${run}`
    await createTopics(admin, [ppTopic])
    const pp = await producerPerformance(
      jars.classpath,
      brokers,
      ppTopic,
      o.perfRecords,
      o.recordSize,
      `bench-pp-${run}`,
    )
    log(`bench:    ${pp.recordsPerSec.toFixed(0)} records/s`)

    // 1b. The client ceiling: kafkajs at-least-once consume -> produce, no state.
    log('bench: 1b kafkajs at-least-once loop')
    const workload = bankCommands(o.accounts, o.backlog, 1)
    const alo = await atLeastOnceLoop(kafka, admin, `bench-alo-${run}`, workload)
    log(`bench:    ${alo.commandsPerSec.toFixed(0)} commands/s`)

    // 2. EOS, 1 worker: throughput from a backlog, then latency at 100% and 50% of it.
    log('bench: 2 decider EOS, 1 worker')
    const one = await eosThroughput(
      kafka,
      admin,
      dir,
      `bench-eos1-${run}`,
      1,
      workload,
      o.profileDir,
      workers,
      'preloaded',
    )
    log(
      `bench:    ${one.result.commandsPerSec.toFixed(0)} commands/s, ${one.result.transactionsPerSec.toFixed(1)} txn/s, batch ${one.result.meanBatch.toFixed(1)}`,
    )
    const full = Math.max(10, Math.round(one.result.commandsPerSec))
    log(`bench:    latency at ${full}/s`)
    const w1 = one.workers[0]!
    const latencyFull = await measureLatency(
      kafka,
      admin,
      one.topology,
      w1,
      o.accounts,
      full,
      o.latencySeconds,
      'full',
    )
    log(`bench:    latency at ${Math.round(full / 2)}/s`)
    const latencyHalf = await measureLatency(
      kafka,
      admin,
      one.topology,
      w1,
      o.accounts,
      Math.round(full / 2),
      o.latencySeconds,
      'half',
    )
    log(`bench:    latency at ${Math.round(full / 10)}/s`)
    const latencyLow = await measureLatency(
      kafka,
      admin,
      one.topology,
      w1,
      o.accounts,
      Math.max(1, Math.round(full / 10)),
      o.latencySeconds,
      'low',
    )
    await stopWorkers(one.workers)

    // 3. Scale: restore, RSS, ready after SIGKILL.
    log(`bench: 3 scale, ${o.aggregates} aggregates`)
    const scale = await scalePhase(
      kafka,
      admin,
      dir,
      `bench-scale-${run}`,
      o.aggregates,
      workers,
      log,
      o.profileDir,
    )

    // 4. Scale-out.
    const scaleOut: Throughput[] = []
    for (const n of o.workers) {
      log(`bench: 4 scale-out, ${n} worker(s), backlog produced after the group is stable`)
      const r = await eosThroughput(
        kafka,
        admin,
        dir,
        `bench-so${n}-${run}`,
        n,
        workload,
        undefined,
        workers,
        'after-ready',
      )
      await stopWorkers(r.workers)
      scaleOut.push(r.result)
      log(`bench:    ${r.result.commandsPerSec.toFixed(0)} commands/s`)
    }

    const eosRatio = one.result.commandsPerSec / alo.commandsPerSec
    const result: BenchResult = {
      startedAt: new Date(started).toISOString(),
      durationSeconds: (now() - t0) / 1000,
      options: { ...o, log: undefined } as Omit<BenchOptions, 'log'>,
      machine,
      baselines: { producerPerformance: pp, kafkajsAtLeastOnce: alo },
      eos: { throughput: one.result, latencyFull, latencyHalf, latencyLow },
      scale,
      scaleOut,
      targets: [
        {
          name: 'EOS throughput / at-least-once loop',
          value: eosRatio,
          target: '>= 0.8',
          met: eosRatio >= 0.8,
        },
        {
          name: 'p99 command->reply at 50% load (ms)',
          value: latencyHalf.p99Ms,
          target: '<= 100',
          met: latencyHalf.p99Ms <= 100,
        },
        {
          name: 'restore (snapshots/s)',
          value: scale.restoreSnapshotsPerSec,
          target: '>= 100000',
          met: scale.restoreSnapshotsPerSec >= 100_000,
        },
        {
          name: 'ready after SIGKILL (s)',
          value: scale.readyAfterKillSeconds,
          target: '<= 5',
          met: scale.readyAfterKillSeconds <= 5,
        },
        {
          name: 'worker RSS with the aggregates (MB)',
          value: scale.rssMb,
          target: '<= 256',
          met: scale.rssMb <= 256,
        },
      ],
    }
    if (o.resultsDir) {
      mkdirSync(o.resultsDir, { recursive: true })
      const file = path.join(o.resultsDir, `bench-${result.startedAt.replace(/[:.]/g, '-')}.json`)
      writeFileSync(file, JSON.stringify(result, null, 2))
      log(`bench: wrote ${file}`)
    }
    if (o.chartFile) {
      const { renderChart } = await import('./chart.ts')
      writeFileSync(o.chartFile, renderChart(result))
      log(`bench: wrote ${o.chartFile}`)
    }
    return result
  } finally {
    await stopWorkers(workers)
    await admin.disconnect().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
    if (broker) await broker.stop()
  }
}
