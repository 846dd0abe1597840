/** The stdout table of a bench result: each figure and its ratio to its baseline or target (phases that ran only). */
import type { BenchResult, FailoverResult } from './types.ts'
import { MOVED_WITHOUT_STANDBY_MS, MOVED_WITH_STANDBY_MS } from './targets.ts'
import { QUIET_CORES } from './cpu.ts'
import { ksLatencyRows, kstreamsRows } from './kstreams/table.ts'

type Row = [string, string, string, string]

const n0 = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a')
const n1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a')
const n3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : 'n/a')
const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : 'n/a')

function baselineRows(r: BenchResult): Row[] {
  const rows: Row[] = []
  const w = r.brokerWarmup
  if (w)
    rows.push([
      'broker warm-up: s, its JIT compilers CPU s, last window cores',
      `${n1(w.seconds)}, ${n1(w.compilerCpuSeconds)}, ${(w.windows[w.windows.length - 1]?.compilerCores ?? NaN).toFixed(2)}`,
      `quiet < ${QUIET_CORES} core`,
      w.quiet ? 'quiet' : 'NOT quiet',
    ])
  const pp = r.baselines?.producerPerformance.recordsPerSec ?? NaN
  const alo = r.baselines?.kafkajsAtLeastOnce.commandsPerSec ?? NaN
  if (r.baselines)
    rows.push(
      [
        'ProducerPerformance, transactional, ' +
          r.baselines.producerPerformance.recordSize +
          ' B (records/s)',
        n0(pp),
        '-',
        '-',
      ],
      ['kafkajs at-least-once loop (commands/s)', n0(alo), `ProducerPerf ${n0(pp)}`, ratio(alo, pp)],
    )
  if (!r.eos) return rows
  const t = r.eos.throughput
  rows.push(
    [
      'EOS 1 worker (commands/s)',
      n0(t.commandsPerSec),
      r.baselines ? `ALO loop ${n0(alo)} (target >= 0.8x)` : 'target >= 0.8x the ALO loop',
      ratio(t.commandsPerSec, alo),
    ],
    ['EOS 1 worker transactions/s', n1(t.transactionsPerSec), '-', '-'],
    ['EOS 1 worker: worker CPU s per 1,000 commands', n3(t.workerCpuPer1k), '-', '-'],
    ['EOS 1 worker: broker CPU s per 1,000 commands', n3(t.brokerCpuPer1k), '-', '-'],
    [
      'EOS 1 worker: one batch, mean ms: ' + Object.keys(t.batchSplitMs ?? {}).join(' / '),
      Object.values(t.batchSplitMs ?? {})
        .map((v) => n1(v))
        .join(' / '),
      '-',
      '-',
    ],
    [
      'EOS 1 worker: GC pauses s per 1,000 commands, young / old generation',
      `${n3(t.gcMinorPer1k)} / ${n3(t.gcMajorPer1k)}`,
      '-',
      '-',
    ],
    [
      'EOS 1 worker mean batch (commands/txn)',
      n1(t.meanBatch),
      'maxBatchCommands 1000',
      ratio(t.meanBatch, 1000),
    ],
  )
  for (const [name, l] of [
    ['100%', r.eos.latencyFull],
    ['50%', r.eos.latencyHalf],
    ['10%', r.eos.latencyLow],
  ] as const) {
    rows.push([
      `latency @${name} load, ${n0(l.targetRate)}/s (sent ${n0(l.achievedRate)}/s, ${l.replied}/${l.sent} replied) p50 ms`,
      n1(l.p50Ms),
      '-',
      '-',
    ])
    rows.push([`latency @${name} load p95 ms`, n1(l.p95Ms), '-', '-'])
    if (l.load?.batchSplitMs)
      rows.push([
        `latency @${name} load: one batch, mean ms: ${Object.keys(l.load.batchSplitMs).join(' / ')}`,
        Object.values(l.load.batchSplitMs)
          .map((v) => n1(v))
          .join(' / '),
        '-',
        '-',
      ])
    if (l.load)
      rows.push([
        `latency @${name} load: txn/s, commands/txn, worker / broker (its JIT compilers) CPU s per 1,000`,
        `${n1(l.load.transactionsPerSec)}, ${n1(l.load.meanBatch)}, ${n3(l.load.workerCpuPer1k)} / ${n3(l.load.brokerCpuPer1k)} (${n3(l.load.brokerJitCpuPer1k ?? NaN)})`,
        '-',
        '-',
      ])
    if (l.load?.machineBusy !== undefined)
      rows.push([
        `latency @${name} load: load generator CPU s per 1,000, machine busy %`,
        `${n3(l.load.benchCpuPer1k ?? NaN)}, ${n1(l.load.machineBusy * 100)}`,
        '-',
        '-',
      ])
    if (l.written)
      rows.push([
        `latency @${name} load until written, p50 / p99 / max ms`,
        `${n1(l.written.p50Ms)} / ${n1(l.written.p99Ms)} / ${n1(l.written.maxMs)}`,
        '-',
        '-',
      ])
    rows.push([
      `latency @${name} load p99 ms`,
      n1(l.p99Ms),
      name === '50%' ? 'target <= 100' : name === '10%' ? 'target <= 50' : '-',
      name === '50%' ? ratio(l.p99Ms, 100) : name === '10%' ? ratio(l.p99Ms, 50) : '-',
    ])
  }
  return rows
}

function scaleRows(s: NonNullable<BenchResult['scale']>): Row[] {
  return [
    [`changelog fill, ${n0(s.aggregates)} snapshots (records/s)`, n0(s.changelogFillPerSec), '-', '-'],
    [
      'restore from changelog (snapshots/s)',
      n0(s.restoreSnapshotsPerSec),
      'target >= 100,000',
      ratio(s.restoreSnapshotsPerSec, 100_000),
    ],
    ['restore wall time (s)', n1(s.restoreSeconds), '-', '-'],
    ['first start to ready, empty state dir (s)', n1(s.firstReadySeconds), '-', '-'],
    [
      'ready after SIGKILL, state dir intact (s)',
      n1(s.readyAfterKillSeconds),
      'target <= 5',
      ratio(s.readyAfterKillSeconds, 5),
    ],
    ['  of which until HTTP answered (s)', n1(s.httpUpAfterKillSeconds), '-', '-'],
    ['  changelog records replayed after SIGKILL', n0(s.restoredAfterKill), '-', '-'],
    ['worker RSS after restore (MB)', n0(s.rssMb), 'target <= 256', ratio(s.rssMb, 256)],
    ['worker peak RSS during restore (MB)', n0(s.peakRssMb), 'target <= 256', ratio(s.peakRssMb, 256)],
    [
      'worker RSS after restart (MB)',
      n0(s.rssAfterRestartMb),
      'target <= 256',
      ratio(s.rssAfterRestartMb, 256),
    ],
  ]
}

function failoverRows(f: FailoverResult): Row[] {
  const tag = `failover ${f.standbyReplicas} standby`
  const limit = f.standbyReplicas > 0 ? MOVED_WITH_STANDBY_MS : MOVED_WITHOUT_STANDBY_MS
  const bound = f.rebalanceMs + 200
  const l = (s: FailoverResult['before']) =>
    `(${s.replied}/${s.sent} replied, p50 ${n1(s.p50Ms)}, max ${n0(s.maxMs)})`
  return [
    [
      `${tag}: ${n0(f.aggregates)} aggregates, ${n0(f.rate)} commands/s, session ${n0(f.sessionTimeoutMs)} ms; both ready (s)`,
      n1(f.bothReadySeconds),
      '-',
      '-',
    ],
    [`${tag}: moved partitions`, f.movedPartitions.join(','), '-', '-'],
    [`${tag}: kill -> group not Stable (ms)`, n0(f.killToRebalanceMs), '-', '-'],
    [`${tag}: rebalance, not Stable -> Stable with the survivor (ms)`, n0(f.rebalanceMs), '-', '-'],
    [`${tag}: kill -> Stable (ms)`, n0(f.killToStableMs), '-', '-'],
    [`${tag}: changelog records the survivor replayed for them`, n0(f.survivorReplayed), '-', '-'],
    [`${tag}: moved partitions' tasks RUNNING, from Stable (ms)`, n0(f.movedRunningFromStableMs), '-', '-'],
    [`${tag}: commands queued on them until then`, n0(f.queuedOnMoved), '-', '-'],
    [`${tag}: moved partitions answer, from the kill (ms, max)`, n0(f.movedAnswerFromKillMs), '-', '-'],
    [
      `${tag}: moved partitions answer, from Stable (ms, max)`,
      n0(f.movedAnswerFromStableMs),
      `target <= ${limit}`,
      ratio(f.movedAnswerFromStableMs, limit),
    ],
    [
      `${tag}: p99 all partitions, 12 s to 2 s before the kill ${l(f.before)} (ms)`,
      n1(f.before.p99Ms),
      '-',
      '-',
    ],
    [`${tag}:   of those answered only after the kill`, n0(f.beforeAnsweredAfterKill), '-', '-'],
    [
      `${tag}: p99 other partitions during failover ${l(f.nonMovedDuring)} (ms)`,
      n1(f.nonMovedDuring.p99Ms),
      `target <= ${n0(bound)}`,
      ratio(f.nonMovedDuring.p99Ms, bound),
    ],
    [
      `${tag}:   the same until the reply was written ${l(f.nonMovedDuringWritten)} (ms)`,
      n1(f.nonMovedDuringWritten.p99Ms),
      '-',
      '-',
    ],
    [
      `${tag}: longest a written reply stayed invisible (read_committed) (ms)`,
      n0(f.repliesHeldBackMs),
      '-',
      '-',
    ],
    [`${tag}: commands replied / sent`, `${f.replied}/${f.sent}`, '-', '-'],
    [
      `${tag}: survivor peak RSS (MB; now ${n0(f.survivorRssMb)})`,
      n0(f.survivorPeakRssMb),
      'target <= 256',
      ratio(f.survivorPeakRssMb, 256),
    ],
  ]
}

export function formatTable(r: BenchResult): string {
  const rows: Row[] = [['figure', 'value', 'baseline / target', 'ratio'], ...baselineRows(r)]
  if (r.scale) rows.push(...scaleRows(r.scale))
  const one = r.scaleOut?.find((x) => x.workers === 1)?.commandsPerSec ?? r.eos?.throughput.commandsPerSec
  for (const x of r.scaleOut ?? [])
    rows.push([
      `scale-out: ${x.workers} worker(s) (commands/s, batch ${n1(x.meanBatch)})`,
      n0(x.commandsPerSec),
      `1 worker ${n0(one ?? NaN)}`,
      ratio(x.commandsPerSec, one ?? NaN),
    ])
  for (const f of r.failover ?? []) rows.push(...failoverRows(f))
  if (r.spread) {
    const s = r.spread
    const tag = `spread: ${n0(s.aggregates)} aggregates, ${n0(s.rate)}/s to random ones, ${s.seconds} s`
    const v = s.visible
    rows.push(
      [`${tag} (${v.replied}/${v.sent} replied) p50 ms`, n1(v.p50Ms), '-', '-'],
      [`${tag} p99 ms`, n1(v.p99Ms), 'target <= 100', ratio(v.p99Ms, 100)],
      [`${tag} max ms`, n1(v.maxMs), 'target <= 250', ratio(v.maxMs, 250)],
      [`${tag} p99 ms until written`, n1(s.written.p99Ms), '-', '-'],
      [`${tag} worker CPU s per 1,000 commands`, n3(s.workerCpuPer1k), '-', '-'],
      [
        `${tag} GC pauses s per 1,000, young / old`,
        `${n3(s.gcMinorPer1k)} / ${n3(s.gcMajorPer1k)}`,
        '-',
        '-',
      ],
    )
  }
  if (r.kstreams) rows.push(...kstreamsRows(r.kstreams))
  if (r.kslatency) rows.push(...ksLatencyRows(r.kslatency))
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i]!.length)))
  const line = (row: string[]) =>
    row.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')
  const out = [line(rows[0]!), w.map((x) => '-'.repeat(x)).join('  '), ...rows.slice(1).map(line), '']
  out.push('targets:')
  for (const tg of r.targets)
    out.push(
      `  ${tg.met ? 'MET    ' : 'NOT MET'}  ${tg.name}: ${Math.abs(tg.value) < 10 ? tg.value.toFixed(2) : n1(tg.value)} (${tg.target})`,
    )
  out.push(
    `phases: ${r.phases.join(', ')}; machine: ${r.machine.nproc} cores, ${r.machine.cpuModel}, ${Math.round(r.machine.memTotalMb)} MB, load at start ${r.machine.loadAvgAtStart.join(' ')}; ${n0(r.durationSeconds)} s`,
  )
  return out.join('\n')
}
