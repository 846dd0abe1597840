/** Smoke-sized `npm run bench`: the entry function with tiny parameters against the test broker; every figure is there. */
import { describe, expect, it } from 'vitest'
import { runBench } from '../../bench/bench.ts'
import { formatTable } from '../../bench/table.ts'
import { renderChart } from '../../bench/chart.ts'
import { kafkaBrokers } from '../support/kafka.ts'

const positive = (v: number) => expect(Number.isFinite(v) && v > 0, String(v)).toBe(true)

describe('bench (smoke)', () => {
  it('runs every phase and returns every figure', async () => {
    const r = await runBench({
      brokers: kafkaBrokers(),
      backlog: 600,
      accounts: 50,
      latencySeconds: 1,
      aggregates: 2000,
      workers: [1, 2],
      perfRecords: 2000,
      resultsDir: null,
      chartFile: null,
    })
    positive(r.baselines.producerPerformance.recordsPerSec)
    positive(r.baselines.kafkajsAtLeastOnce.commandsPerSec)
    positive(r.eos.throughput.commandsPerSec)
    positive(r.eos.throughput.transactionsPerSec)
    positive(r.eos.throughput.meanBatch)
    for (const l of [r.eos.latencyFull, r.eos.latencyHalf, r.eos.latencyLow]) {
      expect(l.sent).toBeGreaterThan(0)
      expect(l.replied).toBe(l.sent)
      for (const v of [l.p50Ms, l.p95Ms, l.p99Ms]) positive(v)
      expect(l.p50Ms).toBeLessThanOrEqual(l.p99Ms)
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
    expect(r.targets).toHaveLength(5)
    expect(formatTable(r)).toContain('EOS 1 worker (commands/s)')
    expect(renderChart(r)).toMatch(/^<svg[\s\S]*<\/svg>\n$/)
  }, 300_000)
})
