/** The table rows of the kstreams phase (bench/table.ts prints them after the other phases'). */
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
