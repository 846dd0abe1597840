/** The stdout table of a bench result: each figure and its ratio to its baseline or target. */
import type { BenchResult } from './types.ts'

const n0 = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a')
const n1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a')
const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : 'n/a')

export function formatTable(r: BenchResult): string {
  const pp = r.baselines.producerPerformance.recordsPerSec
  const alo = r.baselines.kafkajsAtLeastOnce.commandsPerSec
  const t = r.eos.throughput
  const rows: [string, string, string, string][] = [
    ['figure', 'value', 'baseline / target', 'ratio'],
    [
      'ProducerPerformance, transactional, ' + r.baselines.producerPerformance.recordSize + ' B (records/s)',
      n0(pp),
      '-',
      '-',
    ],
    ['kafkajs at-least-once loop (commands/s)', n0(alo), `ProducerPerf ${n0(pp)}`, ratio(alo, pp)],
    [
      'EOS 1 worker (commands/s)',
      n0(t.commandsPerSec),
      `ALO loop ${n0(alo)} (target >= 0.8x)`,
      ratio(t.commandsPerSec, alo),
    ],
    ['EOS 1 worker transactions/s', n1(t.transactionsPerSec), '-', '-'],
    [
      'EOS 1 worker mean batch (commands/txn)',
      n1(t.meanBatch),
      'maxBatchCommands 1000',
      ratio(t.meanBatch, 1000),
    ],
  ]
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
    rows.push([
      `latency @${name} load p99 ms`,
      n1(l.p99Ms),
      name === '50%' ? 'target <= 100' : '-',
      name === '50%' ? ratio(l.p99Ms, 100) : '-',
    ])
  }
  const s = r.scale
  rows.push(
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
  )
  const one = r.scaleOut.find((x) => x.workers === 1)?.commandsPerSec ?? t.commandsPerSec
  for (const x of r.scaleOut)
    rows.push([
      `scale-out: ${x.workers} worker(s) (commands/s, batch ${n1(x.meanBatch)})`,
      n0(x.commandsPerSec),
      `1 worker ${n0(one)}`,
      ratio(x.commandsPerSec, one),
    ])
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i]!.length)))
  const line = (row: string[]) =>
    row.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')
  const out = [line(rows[0]!), w.map((x) => '-'.repeat(x)).join('  '), ...rows.slice(1).map(line), '']
  out.push('targets:')
  for (const tg of r.targets)
    out.push(`  ${tg.met ? 'MET    ' : 'NOT MET'}  ${tg.name}: ${n1(tg.value)} (${tg.target})`)
  out.push(
    `machine: ${r.machine.nproc} cores, ${r.machine.cpuModel}, ${Math.round(r.machine.memTotalMb)} MB, load at start ${r.machine.loadAvgAtStart.join(' ')}; ${n0(r.durationSeconds)} s`,
  )
  return out.join('\n')
}
