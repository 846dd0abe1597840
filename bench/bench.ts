/**
 * `npm run bench` (issue 6): baselines, exactly-once throughput and latency, scale (restore, restart, RSS),
 * scale-out and failover, against one broker; `phases` (the CLI's --only) runs some of them. `runBench(options)` is the entry function (scripts/bench.ts is the CLI, the smoke
 * test calls it with tiny parameters). Every loop and wait here is bounded; every process started is stopped.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { Kafka, logLevel } from 'kafkajs'
import { ensureKafkaJars, startKafka, type KafkaHandle } from '../src/devkafka/index.ts'
import { tempDir, type WorkerProcess } from '../scripts/eos/bank.ts'
import { atLeastOnceLoop, producerPerformance } from './baselines.ts'
import { eosPhase } from './eos.ts'
import { kstreamsPhase } from './kstreams.ts'
import { kstreamsLatencyPhase } from './kstreams-latency.ts'
import { checkStandbys, failoverRun } from './failover.ts'
import { machineInfo } from './machine.ts'
import { scalePhase } from './scale.ts'
import { spreadPhase } from './spread.ts'
import { targetsOf } from './targets.ts'
import { warmBroker } from './warmup.ts'
import { eosThroughput } from './throughput.ts'
import { bankCommands, createTopics, setTopologyExtra } from './topics.ts'
import { PHASES, type BenchOptions, type BenchResult, type Phase } from './types.ts'
import { now } from './util.ts'
import { brokersOf, stopWorkers } from './workers.ts'

export type { BenchOptions, BenchResult, FailoverResult, Latency, Phase, Throughput } from './types.ts'
export { PHASES } from './types.ts'
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
  failoverAggregates: 1_000_000,
  failoverRate: 1000,
  failoverStandbys: [0, 1],
  failoverWarmupSeconds: 15,
  spreadAggregates: 1_000_000,
  spreadRate: 1000,
  spreadSeconds: 30,
  steadyBacklog: 600_000,
  steadyAggregates: [10_000, 500_000],
  ksCommitIntervalsMs: [100, 20],
  ksWarmupSeconds: 5,
  brokerWarmupSeconds: 180,
  partitions: 6,
  resultsDir: path.join(ROOT, 'bench/results'),
}

export async function runBench(partial: Partial<BenchOptions> = {}): Promise<BenchResult> {
  const o: BenchOptions = { ...DEFAULT_OPTIONS, ...partial }
  const log = o.log ?? (() => undefined)
  const started = Date.now()
  const t0 = now()
  // Before the broker starts: a standby setting this build's schema rejects fails the run at once.
  if ((o.phases ?? PHASES).includes('failover')) await checkStandbys(o.failoverStandbys)
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
  setTopologyExtra(
    (o.dedupeWindow !== undefined ? `dedupe:\n  perAggregate: ${o.dedupeWindow}\n` : '') +
      (o.processing && Object.keys(o.processing).length > 0
        ? `processing:\n${Object.entries(o.processing)
            .map(([k, v]) => `  ${k}: ${v}\n`)
            .join('')}`
        : ''),
    o.partitions,
  )
  try {
    const machine = machineInfo()
    const phases = PHASES.filter((p) => (o.phases ?? PHASES).includes(p))
    const has = (p: Phase) => phases.includes(p)
    const workload = bankCommands(o.accounts, o.backlog, 1)
    const res: Omit<BenchResult, 'targets' | 'durationSeconds'> = {
      startedAt: new Date(started).toISOString(),
      options: { ...o, log: undefined } as Omit<BenchOptions, 'log'>,
      machine,
      phases,
    }

    // 0. Load on a throwaway topology until the broker's JIT compilers are quiet: the phases meet a warm broker.
    const warm = await warmBroker(kafka, admin, dir, run, o, workers, log)
    if (warm) res.brokerWarmup = warm

    // 1a. The broker's transactional produce ceiling; 1b. the client ceiling: kafkajs at-least-once, no state.
    if (has('baselines')) {
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
      log('bench: 1b kafkajs at-least-once loop')
      const alo = await atLeastOnceLoop(kafka, admin, `bench-alo-${run}`, workload)
      log(`bench:    ${alo.commandsPerSec.toFixed(0)} commands/s`)
      res.baselines = { producerPerformance: pp, kafkajsAtLeastOnce: alo }
    }

    // 2. EOS, 1 worker: throughput from a backlog, then latency at 100%, 50% and 10% of it.
    if (has('eos')) res.eos = await eosPhase(kafka, admin, dir, run, o, workload, workers)

    // 3. Scale: restore, RSS, ready after SIGKILL.
    if (has('scale')) {
      log(`bench: 3 scale, ${o.aggregates} aggregates`)
      res.scale = await scalePhase(
        kafka,
        admin,
        dir,
        `bench-scale-${run}`,
        o.aggregates,
        workers,
        log,
        o.profileDir,
      )
    }

    // 4. Scale-out.
    if (has('scaleout')) {
      res.scaleOut = []
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
        res.scaleOut.push(r.result)
        log(`bench:    ${r.result.commandsPerSec.toFixed(0)} commands/s`)
      }
    }

    // 5. Failover: SIGKILL one of two workers under a fixed command rate, once per standby setting.
    if (has('failover')) {
      res.failover = []
      for (const standbys of o.failoverStandbys) {
        log(
          `bench: 5 failover, ${o.failoverAggregates} aggregates, ${o.failoverRate} commands/s, ${standbys} standby`,
        )
        const f = await failoverRun(
          kafka,
          admin,
          dir,
          `bench-fo${standbys}-${run}`,
          {
            aggregates: o.failoverAggregates,
            rate: o.failoverRate,
            standbys,
            warmupSeconds: o.failoverWarmupSeconds,
          },
          workers,
          log,
        )
        res.failover.push(f)
        log(
          `bench:    moved partitions answer ${f.movedAnswerFromKillMs.toFixed(0)} ms after the kill, ${f.movedAnswerFromStableMs.toFixed(0)} ms after Stable; other partitions p99 ${f.nonMovedDuring.p99Ms.toFixed(0)} ms`,
        )
      }
    }

    // 6. Latency with 1M aggregates, commands spread over all of them (cache-hostile).
    if (has('spread')) {
      log(`bench: 6 spread, ${o.spreadAggregates} aggregates, ${o.spreadRate} commands/s to random ones`)
      res.spread = await spreadPhase(
        kafka,
        admin,
        dir,
        `bench-spread-${run}`,
        { aggregates: o.spreadAggregates, rate: o.spreadRate, seconds: o.spreadSeconds, warmupSeconds: 5 },
        workers,
        log,
      )
      const v = res.spread.visible
      log(
        `bench:    p50 ${v.p50Ms.toFixed(0)} ms, p99 ${v.p99Ms.toFixed(0)} ms, max ${v.maxMs.toFixed(0)} ms`,
      )
    }

    // 7. Steady-state drains: a Kafka Streams exactly_once_v2 app, then kafka-decider, on the same backlog.
    if (has('kstreams')) {
      log(`bench: 7 kstreams, ${o.steadyBacklog} commands over ${o.steadyAggregates.join(', ')} aggregates`)
      res.kstreams = await kstreamsPhase(kafka, admin, dir, run, o, workers, broker?.nodes[0]?.pid)
    }

    if (has('kslatency')) {
      const full = res.eos?.throughput.commandsPerSec
      const rates =
        o.ksLatencyRates ??
        (full !== undefined && full > 0
          ? [Math.max(10, Math.round(full / 2)), Math.max(1, Math.round(full / 10))]
          : [10_000, 2_000])
      log(`bench: 8 kslatency, Kafka Streams and kafka-decider at ${rates.join(', ')} commands/s`)
      res.kslatency = await kstreamsLatencyPhase(
        kafka,
        admin,
        dir,
        run,
        {
          rates,
          accounts: o.accounts,
          seconds: o.latencySeconds,
          commitIntervalsMs: o.ksCommitIntervalsMs,
          dedupe: o.dedupeWindow ?? 32,
          warmupSeconds: o.ksWarmupSeconds,
        },
        workers,
        broker?.nodes[0]?.pid,
        log,
      )
    }

    const withDuration = { ...res, durationSeconds: (now() - t0) / 1000 }
    const result: BenchResult = { ...withDuration, targets: targetsOf(withDuration) }
    if (o.resultsDir) {
      mkdirSync(o.resultsDir, { recursive: true })
      const file = path.join(o.resultsDir, `bench-${result.startedAt.replace(/[:.]/g, '-')}.json`)
      writeFileSync(file, JSON.stringify(result, null, 2))
      log(`bench: wrote ${file}`)
    }
    if (o.chartFile && !(result.baselines || result.eos || result.scaleOut)) {
      log(`bench: no charted phase ran (baselines, eos, scaleout): ${o.chartFile} left as it is`)
    } else if (o.chartFile) {
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
