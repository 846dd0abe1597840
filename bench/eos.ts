/** 2. EOS, 1 worker: throughput from a preloaded backlog, then latency at 100%, 50% and 10% of it on the same worker. */
import type { Admin, Kafka } from 'kafkajs'
import type { Cmd, WorkerProcess } from '../scripts/eos/bank.ts'
import { measureLatency } from './latency.ts'
import { eosThroughput } from './throughput.ts'
import type { BenchOptions, BenchResult } from './types.ts'
import { brokerPid, busyShare, cpuSeconds, JIT_THREADS, machineTicks, threadCpuSeconds } from './cpu.ts'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BATCH_STEPS, httpGet, kafka_brokers, scrape, stopWorkers } from './workers.ts'

export async function eosPhase(
  kafka: Kafka,
  admin: Admin,
  dir: string,
  run: string,
  o: BenchOptions,
  workload: Cmd[],
  workers: WorkerProcess[],
): Promise<NonNullable<BenchResult['eos']>> {
  const log = o.log ?? (() => undefined)
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
  try {
    log(
      `bench:    ${one.result.commandsPerSec.toFixed(0)} commands/s, ${one.result.transactionsPerSec.toFixed(1)} txn/s, batch ${one.result.meanBatch.toFixed(1)}`,
    )
    const full = Math.max(10, Math.round(one.result.commandsPerSec))
    const w1 = one.workers[0]!
    const running = one.running[0]!
    const broker = brokerPid(kafka_brokers(kafka))
    // CPU seconds so far: the worker, the broker, the broker's JIT compiler threads.
    const cpuNow = () =>
      [cpuSeconds(w1.proc.pid), cpuSeconds(broker), threadCpuSeconds(broker, JIT_THREADS)] as const
    const level = async (rate: number, tag: string) => {
      log(`bench:    latency at ${rate}/s`)
      const dump = async (when: string) => {
        // BENCH_METRICS_DIR=dir: the worker's whole /metrics text before and after each level, for histograms.
        const d = process.env.BENCH_METRICS_DIR
        if (d)
          writeFileSync(join(d, `${tag}-${when}.txt`), (await httpGet(running.port, '/metrics'))?.body ?? '')
      }
      await dump('before')
      const m0 = await scrape([running])
      const cpu0 = cpuNow()
      const [machine0, bench0] = [machineTicks(), process.cpuUsage()]
      const target = {
        group: one.topology.applicationId,
        commands: one.topology.topics.commands,
        replies: one.topology.topics.replies,
        process: w1,
      }
      const l = await measureLatency(kafka, admin, target, o.accounts, rate, o.latencySeconds, tag)
      const m1 = await scrape([running])
      await dump('after')
      const cpu1 = cpuNow()
      const [machine1, bench1] = [machineTicks(), process.cpuUsage(bench0)]
      const batches = m1.batchCount - m0.batchCount
      const commands = m1.batchSum - m0.batchSum
      const seconds = l.sent / l.achievedRate
      l.load = {
        batchSplitMs: Object.fromEntries(
          BATCH_STEPS.map((s) => [
            s,
            batches > 0 ? (((m1.steps[s] ?? 0) - (m0.steps[s] ?? 0)) / batches) * 1000 : NaN,
          ]),
        ),
        transactionsPerSec: (m1.txns - m0.txns) / seconds,
        meanBatch: batches > 0 ? commands / batches : NaN,
        workerCpuPer1k: commands > 0 ? ((cpu1[0] - cpu0[0]) / commands) * 1000 : NaN,
        brokerCpuPer1k: commands > 0 ? ((cpu1[1] - cpu0[1]) / commands) * 1000 : NaN,
        brokerJitCpuPer1k: commands > 0 ? ((cpu1[2] - cpu0[2]) / commands) * 1000 : NaN,
        // The load generator (this process: the producer and the replies consumer) shares the machine.
        benchCpuPer1k: commands > 0 ? ((bench1.user + bench1.system) / 1e6 / commands) * 1000 : NaN,
        machineBusy: busyShare(machine0, machine1),
      }
      return l
    }
    const [r100, r50, r10] = o.latencyRates ?? [
      full,
      Math.round(full / 2),
      Math.max(1, Math.round(full / 10)),
    ]
    const latencyFull = await level(r100, 'full')
    const latencyHalf = await level(r50, 'half')
    const latencyLow = await level(r10, 'low')
    return { throughput: one.result, latencyFull, latencyHalf, latencyLow }
  } finally {
    await stopWorkers(one.workers)
  }
}
