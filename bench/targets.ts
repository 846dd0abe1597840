/** The targets of a bench result: one line per target whose figures the run has (skipped phases have none). */
import type { BenchResult } from './types.ts'

type Target = BenchResult['targets'][number]

const target = (name: string, value: number, text: string, met: boolean): Target => ({
  name,
  value,
  target: text,
  met,
})

/** A moved partition answers within this long of Stable: with a caught-up standby, and without. */
export const MOVED_WITH_STANDBY_MS = 500
export const MOVED_WITHOUT_STANDBY_MS = 2500

export function targetsOf(r: Omit<BenchResult, 'targets'>): Target[] {
  const out: Target[] = []
  if (r.baselines && r.eos) {
    const ratio = r.eos.throughput.commandsPerSec / r.baselines.kafkajsAtLeastOnce.commandsPerSec
    out.push(target('EOS throughput / at-least-once loop', ratio, '>= 0.6', ratio >= 0.6))
  }
  if (r.eos) {
    const half = r.eos.latencyHalf.p99Ms
    const low = r.eos.latencyLow.p99Ms
    out.push(
      target('p99 command->reply at 50% load (ms)', half, '<= 100', half <= 100),
      target('p99 command->reply at 10% load (ms)', low, '<= 50', low <= 50),
    )
  }
  if (r.spread) {
    const v = r.spread.visible
    const tag = `${r.spread.aggregates} aggregates, ${r.spread.rate}/s spread over all`
    out.push(
      target(`${tag}: p99 command->reply (ms)`, v.p99Ms, '<= 100', v.p99Ms <= 100),
      target(`${tag}: max command->reply (ms)`, v.maxMs, '<= 250', v.maxMs <= 250),
    )
  }
  if (r.scale) {
    const s = r.scale
    out.push(
      target(
        'restore (snapshots/s)',
        s.restoreSnapshotsPerSec,
        '>= 100000',
        s.restoreSnapshotsPerSec >= 100_000,
      ),
      target('ready after SIGKILL (s)', s.readyAfterKillSeconds, '<= 5', s.readyAfterKillSeconds <= 5),
      target('worker RSS with the aggregates (MB)', s.rssMb, '<= 256', s.rssMb <= 256),
    )
  }
  for (const f of r.failover ?? []) {
    const tag = `failover, ${f.standbyReplicas} standby`
    const limit = f.standbyReplicas > 0 ? MOVED_WITH_STANDBY_MS : MOVED_WITHOUT_STANDBY_MS
    const bound = f.rebalanceMs + 200
    out.push(
      target(
        `${tag}: moved partitions answer, from Stable (ms)`,
        f.movedAnswerFromStableMs,
        `<= ${limit}`,
        f.movedAnswerFromStableMs <= limit,
      ),
      target(
        `${tag}: p99 of the other partitions during failover (ms)`,
        f.nonMovedDuring.p99Ms,
        `<= rebalance ${Math.round(f.rebalanceMs)} + 200`,
        f.nonMovedDuring.p99Ms <= bound,
      ),
      target(`${tag}: survivor peak RSS (MB)`, f.survivorPeakRssMb, '<= 256', f.survivorPeakRssMb <= 256),
    )
  }
  for (const k of r.kstreams?.runs ?? [])
    out.push(
      target(
        `steady drain over ${k.aggregates} aggregates: kafka-decider / Kafka Streams EOS v2 (commands/s)`,
        k.ratio,
        '>= 1',
        k.ratio >= 1,
      ),
    )
  return out
}
