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
      backlog: 6000, // enough work that the broker's CPU over the drain shows in /proc (10 ms ticks): ~0.005 s per 1,000
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
      resultsDir: null,
      chartFile: null,
    })
    expect(r.phases).toEqual(['baselines', 'eos', 'scale', 'scaleout', 'failover', 'spread', 'kstreams'])
    if (!r.baselines || !r.eos || !r.scale || !r.scaleOut || !r.failover || !r.spread || !r.kstreams)
      throw new Error('a phase is missing')
    positive(r.baselines.producerPerformance.recordsPerSec)
    positive(r.baselines.kafkajsAtLeastOnce.commandsPerSec)
    positive(r.eos.throughput.commandsPerSec)
    positive(r.eos.throughput.transactionsPerSec)
    positive(r.eos.throughput.meanBatch)
    positive(r.eos.throughput.workerCpuPer1k)
    // The drain's clock starts when the bench sees /readyz. On a loaded machine (CI's load variant) the worker can
    // have done all but its last transaction or two by then: under 2 ms of broker CPU, below /proc's 10 ms ticks, so
    // 0 is a true reading there. The broker pid lookup and the broker's figure are checked positive over the latency
    // levels below, whose windows the bench's own sending fills.
    expect(Number.isFinite(r.eos.throughput.brokerCpuPer1k), JSON.stringify(r.eos.throughput)).toBe(true)
    expect(r.eos.throughput.brokerCpuPer1k).toBeGreaterThanOrEqual(0)
    expect(r.eos.throughput.gcMinorPer1k).toBeGreaterThanOrEqual(0)
    for (const l of [r.eos.latencyFull, r.eos.latencyHalf, r.eos.latencyLow]) {
      expect(l.sent).toBeGreaterThan(0)
      expect(l.replied).toBe(l.sent)
      for (const v of [l.p50Ms, l.p95Ms, l.p99Ms]) positive(v)
      expect(l.p50Ms).toBeLessThanOrEqual(l.p99Ms)
      positive(l.load!.benchCpuPer1k!, l.load)
      positive(l.load!.brokerCpuPer1k, l.load)
      positive(l.load!.workerCpuPer1k, l.load)
      expect(l.load!.machineBusy).toBeGreaterThan(0)
      expect(l.load!.machineBusy).toBeLessThanOrEqual(1)
    }
    positive(r.scale.restoreSnapshotsPerSec)
    positive(r.scale.readyAfterKillSeconds)
    positive(r.scale.httpUpAfterKillSeconds)
    // Replayed after a SIGKILL with an intact state dir: the changelog tail, never a full restore.
    expect(r.scale.restoredAfterKill).toBeLessThan(r.scale.aggregates)
    positive(r.scale.rssMb)
    positive(r.scale.changelogFillPerSec)
    expect(r.scaleOut.map((s) => s.workers)).toEqual([1, 2])
    for (const s of r.scaleOut) positive(s.commandsPerSec)
    expect(r.failover).toHaveLength(1)
    const f = r.failover[0]!
    expect(f.movedPartitions.length).toBeGreaterThan(0)
    expect(f.moved.map((m) => m.partition)).toEqual(f.movedPartitions)
    for (const v of [f.killToStableMs, f.movedAnswerFromKillMs, f.survivorPeakRssMb]) positive(v)
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
      positive(v)
    expect(r.kstreams.runs.map((k) => k.aggregates)).toEqual([40])
    const k = r.kstreams.runs[0]!
    for (const d of [k.kafkaStreams, k.decider]) {
      // every command answered exactly once (read_committed), with a positive rate and CPU figure
      expect(d.replies).toBe(2000)
      expect(d.distinctReplies).toBe(2000)
      positive(d.commandsPerSec)
      positive(d.appCpuSecondsPer1k)
    }
    // the same decisions: Kafka Streams does the bank-account work of the decider
    expect(k.kafkaStreams.replyStatuses).toEqual(k.decider.replyStatuses)
    expect(k.decider.replyStatuses.rejected ?? 0).toBeGreaterThan(0)
    positive(k.ratio)
    expect(r.targets).toHaveLength(6 + 3 + 2 + 1)
    expect(formatTable(r)).toContain('EOS 1 worker (commands/s)')
    expect(formatTable(r)).toContain('Kafka Streams')
    expect(renderChart(r)).toMatch(/^<svg[\s\S]*<\/svg>\n$/)
  }, 300_000)
})
