/** The table rows of the kstreams phase (bench/table.ts prints them after the other phases'). */
import type { KsLatencyResult } from '../types.ts'
import type { KstreamsPhaseResult, SteadyDrain } from './types.ts'

type Row = [string, string, string, string]

const n0 = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a')
const n3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : 'n/a')
const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : 'n/a')

const statuses = (d: SteadyDrain) =>
  Object.entries(d.replyStatuses)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([s, n]) => `${s} ${n}`)
    .join(', ')

export function kstreamsRows(k: KstreamsPhaseResult): Row[] {
  const rows: Row[] = []
  for (const r of k.runs) {
    const tag = `steady ${n0(k.backlog)} cmds / ${n0(r.aggregates)} aggs`
    const ks = r.kafkaStreams
    const kd = r.decider
    const name = (d: SteadyDrain) =>
      d.app === 'kafka-streams' ? `Kafka Streams ${k.kafkaStreamsVersion} EOS v2` : 'kafka-decider 1 worker'
    for (const d of [ks, kd]) {
      const base = d === kd
      rows.push(
        [
          `${tag}: ${name(d)} (commands/s; 2nd half ${n0(d.secondHalfCommandsPerSec)})`,
          n0(d.commandsPerSec),
          base ? `Kafka Streams ${n0(ks.commandsPerSec)} (target >= 1x)` : '-',
          base ? ratio(kd.commandsPerSec, ks.commandsPerSec) : '-',
        ],
        [
          `${tag}: ${name(d)} app CPU s per 1,000 commands`,
          n3(d.appCpuSecondsPer1k),
          base ? `Kafka Streams ${n3(ks.appCpuSecondsPer1k)}` : '-',
          base ? ratio(kd.appCpuSecondsPer1k, ks.appCpuSecondsPer1k) : '-',
        ],
        [
          `${tag}: ${name(d)} broker CPU s per 1,000 commands`,
          n3(d.brokerCpuSecondsPer1k),
          base ? `Kafka Streams ${n3(ks.brokerCpuSecondsPer1k)}` : '-',
          base ? ratio(kd.brokerCpuSecondsPer1k, ks.brokerCpuSecondsPer1k) : '-',
        ],
        [
          `${tag}: ${name(d)} start to first commit (s); peak RSS ${n0(d.appPeakRssMb)} MB`,
          d.startToFirstCommitSeconds.toFixed(1),
          '-',
          '-',
        ],
        [
          `${tag}: ${name(d)} replies (distinct / all / commands; ${statuses(d)})`,
          `${d.distinctReplies}/${d.replies}/${d.backlog}`,
          '-',
          '-',
        ],
      )
    }
  }
  return rows
}

const n1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a')

/** The kslatency phase: per offered rate, each app's p50 / p99 / max, its CPU and the broker's, the machine busy. */
export function ksLatencyRows(k: KsLatencyResult): Row[] {
  const rows: Row[] = []
  for (const [i, rate] of k.rates.entries()) {
    const decider = k.runs.find((r) => r.app === 'kafka-decider')?.levels[i]
    for (const run of k.runs) {
      const l = run.levels[i]
      if (!l) continue
      const name =
        run.app === 'kafka-streams'
          ? `Kafka Streams ${run.version ?? ''} EOS v2, commit.interval.ms ${run.commitIntervalMs}`
          : `kafka-decider 1 worker, commitIntervalMs ${run.commitIntervalMs}`
      const tag = `kslatency @${n0(rate)}/s (sent ${n0(l.achievedRate)}/s, ${l.replied}/${l.sent} replied): ${name}`
      rows.push(
        [
          `${tag} p50 / p99 / max ms`,
          `${n1(l.p50Ms)} / ${n1(l.p99Ms)} / ${n1(l.maxMs)}`,
          run.app === 'kafka-streams' && decider ? `decider p99 ${n1(decider.p99Ms)}` : '-',
          run.app === 'kafka-streams' && decider ? ratio(decider.p99Ms, l.p99Ms) : '-',
        ],
        [
          `${tag} CPU s per 1,000: app / broker; machine busy %`,
          `${n3(l.appCpuPer1k)} / ${n3(l.brokerCpuPer1k)}; ${n1(l.machineBusy * 100)}`,
          '-',
          '-',
        ],
      )
    }
  }
  return rows
}
