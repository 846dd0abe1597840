/** Hand-written SVG chart of a bench result: throughput bars (baselines, EOS by worker count) and latency percentiles. */
import type { BenchResult } from './types.ts'

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function bars(
  x0: number,
  y0: number,
  w: number,
  h: number,
  title: string,
  unit: string,
  items: { label: string; value: number; color: string }[],
): string {
  const max = Math.max(1, ...items.map((i) => (Number.isFinite(i.value) ? i.value : 0))) * 1.15
  const bw = w / items.length
  let out = `<text x="${x0}" y="${y0 - 12}" font-size="14" font-weight="bold">${esc(title)}</text>`
  out += `<line x1="${x0}" y1="${y0 + h}" x2="${x0 + w}" y2="${y0 + h}" stroke="#444"/>`
  items.forEach((it, i) => {
    const v = Number.isFinite(it.value) ? it.value : 0
    const bh = (v / max) * h
    const x = x0 + i * bw + bw * 0.15
    out += `<rect x="${x.toFixed(1)}" y="${(y0 + h - bh).toFixed(1)}" width="${(bw * 0.7).toFixed(1)}" height="${bh.toFixed(1)}" fill="${it.color}"/>`
    out += `<text x="${(x + bw * 0.35).toFixed(1)}" y="${(y0 + h - bh - 4).toFixed(1)}" font-size="11" text-anchor="middle">${esc(fmt(v))}</text>`
    out += `<text x="${(x + bw * 0.35).toFixed(1)}" y="${y0 + h + 14}" font-size="10" text-anchor="middle">${esc(it.label)}</text>`
  })
  out += `<text x="${x0 + w}" y="${y0 - 12}" font-size="11" text-anchor="end" fill="#555">${esc(unit)}</text>`
  return out
}

function fmt(v: number): string {
  return v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v >= 10 ? v.toFixed(0) : v.toFixed(1)
}

/** Draws the panels whose phases ran (a partial result: the throughput bars it has, the latency panel with eos). */
export function renderChart(r: BenchResult): string {
  const W = 900
  const H = 420
  const b = r.baselines
  const tp = [
    ...(b
      ? [
          { label: 'ProducerPerf (txn)', value: b.producerPerformance.recordsPerSec, color: '#9e9e9e' },
          { label: 'kafkajs ALO loop', value: b.kafkajsAtLeastOnce.commandsPerSec, color: '#607d8b' },
        ]
      : []),
    ...(r.scaleOut ?? (r.eos ? [r.eos.throughput] : [])).map((s) => ({
      label: `EOS ${s.workers} worker${s.workers > 1 ? 's' : ''}`,
      value: s.commandsPerSec,
      color: '#1e88e5',
    })),
  ]
  const e = r.eos
  const lat = e
    ? [
        { label: 'p50 @100%', value: e.latencyFull.p50Ms, color: '#fb8c00' },
        { label: 'p95 @100%', value: e.latencyFull.p95Ms, color: '#f4511e' },
        { label: 'p99 @100%', value: e.latencyFull.p99Ms, color: '#e53935' },
        { label: 'p50 @50%', value: e.latencyHalf.p50Ms, color: '#7cb342' },
        { label: 'p95 @50%', value: e.latencyHalf.p95Ms, color: '#43a047' },
        { label: 'p99 @50%', value: e.latencyHalf.p99Ms, color: '#2e7d32' },
        { label: 'p50 @10%', value: e.latencyLow.p50Ms, color: '#90caf9' },
        { label: 'p99 @10%', value: e.latencyLow.p99Ms, color: '#1565c0' },
      ]
    : []
  const m = r.machine
  const what = [
    e ? `throughput from a ${e.throughput.commands}-command backlog` : '',
    e ? 'latency: command produce -> reply visible read_committed' : '',
    `phases: ${r.phases.join(', ')}`,
  ].filter(Boolean)
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="20" y="24" font-size="16" font-weight="bold">kafka-decider bench — bank-account, 6 partitions, ${esc(r.startedAt.slice(0, 16).replace('T', ' '))} UTC</text>`,
    `<text x="20" y="42" font-size="11" fill="#555">${esc(`${m.nproc} cores (${m.cpuModel}), ${Math.round(m.memTotalMb / 1024)} GB, Node ${m.node}; ${what.join('; ')}`)}</text>`,
    tp.length > 0 ? bars(40, 90, 430, 270, 'Throughput', 'records or commands / s', tp) : '',
    e
      ? bars(
          510,
          90,
          370,
          270,
          `Latency (100% ${Math.round(e.latencyFull.targetRate)}/s, 50%, 10%)`,
          'ms',
          lat,
        )
      : '',
    `</svg>`,
    '',
  ]
    .filter((l, i, all) => l !== '' || i === all.length - 1)
    .join('\n')
}
