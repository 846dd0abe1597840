/** Smoke-sized `npm run bench`: the entry function with tiny parameters against the test broker; every figure is there. */
import { describe, expect, it } from 'vitest'
import { runBench } from '../../bench/bench.ts'
import { formatTable } from '../../bench/table.ts'
import { renderChart } from '../../bench/chart.ts'
import { kafkaBrokers } from '../support/kafka.ts'

const positive = (v: number, context?: unknown) =>
  expect(
    Number.isFinite(v) && v > 0,
    `${v}${context === undefined ? '' : ` in ${JSON.stringify(context)}`}`,
  ).toBe(true)

describe('bench (smoke)', () => {
  it('runs every phase and returns every figure', async () => {
    const r = await runBench({
      brokers: kafkaBrokers(),
      // Enough that the EOS drain still has work when the bench sees /readyz under CPU load: the worker starts on its
      // partitions before its HTTP server gets to answer the probe (same event loop), and 6,000 was once all but done.
      backlog: 12000,
      accounts: 50,
      latencySeconds: 1,
      aggregates: 2000,
      workers: [1, 2],
      perfRecords: 2000,
      // A tiny failover run (standbys 0 only: the topology schema of this build has no standbyReplicas). It adds
      // about 20 s (44 s with it, 24 s without, measured): two workers, 3 s of load, the 10 s session timeout of
      // the killed one, the rebalance.
      failoverAggregates: 2000,
      failoverRate: 200,
      failoverStandbys: [0],
      failoverWarmupSeconds: 3,
      spreadAggregates: 2000,
      spreadRate: 200,
      spreadSeconds: 2,
      // The Kafka Streams baseline (its Maven build is cached under .cache/kstreams) and one decider worker on the
      // same backlog: 50 commands per aggregate, more than the dedupe window of 32. About 20 s more.
      steadyBacklog: 2000,
      steadyAggregates: [40],
      // Kafka Streams (commit.interval.ms 20) and one decider worker at the same two rates, 1 s each after 1 s of
      // warm-up. About 25 s more.
      ksLatencyRates: [400, 100],
      ksCommitIntervalsMs: [20],
      ksWarmupSeconds: 1,
      // One 2 s window of load before the phases, its broker JIT figures read from /proc (the test broker is local).
      brokerWarmupSeconds: 2,
      resultsDir: null,
      chartFile: null,
    })
    expect(r.phases).toEqual([
      'baselines',
      'eos',
      'scale',
      'scaleout',
      'failover',
      'spread',
      'kstreams',
      'kslatency',
    ])
    if (!r.baselines || !r.eos || !r.scale || !r.scaleOut || !r.failover || !r.spread || !r.kstreams)
      throw new Error('a phase is missing')
    if (!r.kslatency) throw new Error('the kslatency phase is missing')
    const w = r.brokerWarmup
    if (!w) throw new Error('no broker warm-up')
    expect(w.windows.length).toBeGreaterThanOrEqual(1)
    for (const x of w.windows) {
      positive(x.rate, { warmup: w })
      expect(Number.isFinite(x.compilerCores) && x.compilerCores >= 0, JSON.stringify(w)).toBe(true)
    }
    expect(w.seconds).toBeGreaterThan(2)
    expect(w.compilerCpuSeconds).toBeGreaterThanOrEqual(0)
    expect(w.quiet).toBe(w.windows[w.windows.length - 1]!.compilerCores < 0.05)
    positive(r.baselines.producerPerformance.recordsPerSec, 'producer-perf records/s')
    positive(r.baselines.kafkajsAtLeastOnce.commandsPerSec, 'at-least-once loop commands/s')
    // The EOS drain's clock starts when the bench sees /readyz ('preloaded', the issue's definition). On a loaded
    // machine (CI's load variant) the worker can have done most of the backlog by then, and the window's CPU and
    // transaction counts can be true zeros (/proc counts 10 ms ticks): those are checked finite and >= 0 here, and
    // positive on the scale-out drains below, which run the same code with the clock started before the backlog is
    // produced ('after-ready'), and on each latency level, whose windows the bench's own sending fills.
    const t = r.eos.throughput
    expect(t.mode).toBe('preloaded')
    positive(t.commandsPerSec, { eosDrain: t })
    for (const [name, v] of Object.entries({
      transactionsPerSec: t.transactionsPerSec,
      meanBatch: t.meanBatch,
      workerCpuPer1k: t.workerCpuPer1k,
      brokerCpuPer1k: t.brokerCpuPer1k,
      gcMinorPer1k: t.gcMinorPer1k,
      gcMajorPer1k: t.gcMajorPer1k,
    }))
      expect(Number.isFinite(v) && v >= 0, `EOS drain ${name} ${v} in ${JSON.stringify(t)}`).toBe(true)
    for (const l of [r.eos.latencyFull, r.eos.latencyHalf, r.eos.latencyLow]) {
      expect(l.sent).toBeGreaterThan(0)
      expect(l.replied).toBe(l.sent)
      for (const v of [l.p50Ms, l.p95Ms, l.p99Ms]) positive(v, { latency: l })
      expect(l.p50Ms).toBeLessThanOrEqual(l.p99Ms)
      positive(l.load!.benchCpuPer1k!, l.load)
      positive(l.load!.brokerCpuPer1k, l.load)
      expect(l.load!.brokerJitCpuPer1k).toBeGreaterThanOrEqual(0)
      positive(l.load!.workerCpuPer1k, l.load)
      expect(l.load!.machineBusy).toBeGreaterThan(0)
      expect(l.load!.machineBusy).toBeLessThanOrEqual(1)
    }
    for (const [name, v] of Object.entries({
      restoreSnapshotsPerSec: r.scale.restoreSnapshotsPerSec,
      readyAfterKillSeconds: r.scale.readyAfterKillSeconds,
      httpUpAfterKillSeconds: r.scale.httpUpAfterKillSeconds,
      rssMb: r.scale.rssMb,
      changelogFillPerSec: r.scale.changelogFillPerSec,
    }))
      positive(v, { scale: name })
    // Replayed after a SIGKILL with an intact state dir: the changelog tail, never a full restore.
    expect(r.scale.restoredAfterKill).toBeLessThan(r.scale.aggregates)
    expect(r.scaleOut.map((s) => s.workers)).toEqual([1, 2])
    for (const s of r.scaleOut) {
      expect(s.mode).toBe('after-ready')
      for (const [name, v] of Object.entries({
        commandsPerSec: s.commandsPerSec,
        transactionsPerSec: s.transactionsPerSec,
        meanBatch: s.meanBatch,
        workerCpuPer1k: s.workerCpuPer1k,
        brokerCpuPer1k: s.brokerCpuPer1k,
      }))
        positive(v, { scaleOut: name, drain: s })
      expect(s.gcMinorPer1k).toBeGreaterThanOrEqual(0)
    }
    expect(r.failover).toHaveLength(1)
    const f = r.failover[0]!
    expect(f.movedPartitions.length).toBeGreaterThan(0)
    expect(f.moved.map((m) => m.partition)).toEqual(f.movedPartitions)
    for (const v of [f.killToStableMs, f.movedAnswerFromKillMs, f.survivorPeakRssMb])
      positive(v, { failover: f })
    // 0 when the rebalance was shorter than the group poll (100 ms), never NaN
    expect(Number.isFinite(f.rebalanceMs) && f.rebalanceMs >= 0, String(f.rebalanceMs)).toBe(true)
    expect(f.movedAnswerFromKillMs).toBeGreaterThanOrEqual(f.killToStableMs - 200)
    expect(f.nonMovedDuring.sent).toBeGreaterThan(0)
    expect(f.replied).toBe(f.sent)
    expect(r.spread.visible.sent).toBeGreaterThan(0)
    expect(r.spread.visible.replied).toBe(r.spread.visible.sent)
    for (const v of [
      r.spread.visible.p50Ms,
      r.spread.visible.p99Ms,
      r.spread.visible.maxMs,
      r.spread.workerCpuPer1k,
    ])
      positive(v, { spread: r.spread })
    expect(r.kstreams.runs.map((k) => k.aggregates)).toEqual([40])
    const k = r.kstreams.runs[0]!
    for (const d of [k.kafkaStreams, k.decider]) {
      // every command answered exactly once (read_committed), with a positive rate and CPU figure
      expect(d.replies).toBe(2000)
      expect(d.distinctReplies).toBe(2000)
      positive(d.commandsPerSec, { kstreams: d })
      positive(d.appCpuSecondsPer1k, { kstreams: d })
    }
    // the same decisions: Kafka Streams does the bank-account work of the decider
    expect(k.kafkaStreams.replyStatuses).toEqual(k.decider.replyStatuses)
    expect(k.decider.replyStatuses.rejected ?? 0).toBeGreaterThan(0)
    positive(k.ratio, { kstreamsRatio: k.ratio })
    // the same rates for both apps, every command answered once, the latencies and the CPU figures there
    expect(r.kslatency.rates).toEqual([400, 100])
    expect(r.kslatency.runs.map((x) => [x.app, x.commitIntervalMs])).toEqual([
      ['kafka-streams', 20],
      ['kafka-decider', 20],
    ])
    for (const x of r.kslatency.runs) {
      expect(x.levels.map((l) => l.rate)).toEqual([400, 100])
      for (const l of x.levels) {
        expect(l.sent).toBeGreaterThan(0)
        expect(l.replied).toBe(l.sent)
        for (const v of [l.p50Ms, l.p99Ms, l.maxMs]) positive(v, { kslatency: x.app, level: l })
        expect(l.p50Ms).toBeLessThanOrEqual(l.p99Ms)
        for (const v of [l.appCpuPer1k, l.brokerCpuPer1k, l.machineBusy])
          expect(Number.isFinite(v) && v >= 0, JSON.stringify({ kslatency: x.app, level: l })).toBe(true)
      }
    }
    expect(formatTable(r)).toContain('kslatency @400/s')
    expect(r.targets).toHaveLength(6 + 3 + 2 + 1)
    expect(formatTable(r)).toContain('EOS 1 worker (commands/s)')
    expect(formatTable(r)).toContain('Kafka Streams')
    expect(renderChart(r)).toMatch(/^<svg[\s\S]*<\/svg>\n$/)
  }, 300_000)
})
