/**
 * Renders the dashboard's main series to an SVG, without Grafana: scrapes a running worker's /metrics for a
 * short run and plots rates, percentiles and gauges computed from consecutive scrapes (hand-rolled SVG).
 *
 *   npm run dashboard:render -- [--url http://127.0.0.1:9464/metrics] [--seconds 60] [--interval 1] [--out docs/dashboard.svg]
 *
 * Send load meanwhile (e.g. `npx decider send ...`, the CommandClient, or test/support/eos.ts sendCommands).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { METRIC } from '../src/metrics/metrics.ts'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}
interface Scrape {
  t: number
  samples: Sample[]
}
type Series = Map<string, (number | null)[]>
interface Panel {
  title: string
  unit: string
  series: Series
}

export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line)
    if (!m) continue
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!
    out.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  return out
}

const sum = (s: Scrape, name: string, by: (l: Record<string, string>) => string | undefined) => {
  const out = new Map<string, number>()
  for (const x of s.samples) {
    if (x.name !== name) continue
    const k = by(x.labels)
    if (k !== undefined) out.set(k, (out.get(k) ?? 0) + x.value)
  }
  return out
}

/** Per interval: (counter delta) / seconds, grouped by a label. */
function rates(scrapes: Scrape[], name: string, label?: string): Series {
  const series: Series = new Map()
  for (let i = 1; i < scrapes.length; i++) {
    const a = sum(scrapes[i - 1]!, name, (l) => (label ? l[label] : 'total'))
    const b = sum(scrapes[i]!, name, (l) => (label ? l[label] : 'total'))
    const dt = (scrapes[i]!.t - scrapes[i - 1]!.t) / 1000
    for (const [k, v] of b) {
      if (!series.has(k)) series.set(k, Array(scrapes.length - 1).fill(null))
      series.get(k)![i - 1] = Math.max(0, v - (a.get(k) ?? 0)) / dt
    }
  }
  return series
}

function gauges(
  scrapes: Scrape[],
  name: string,
  by: (l: Record<string, string>) => string | undefined,
): Series {
  const series: Series = new Map()
  scrapes.slice(1).forEach((s, i) => {
    for (const [k, v] of sum(s, name, by)) {
      if (!series.has(k)) series.set(k, Array(scrapes.length - 1).fill(null))
      series.get(k)![i] = v
    }
  })
  return series
}

/** histogram_quantile over the bucket deltas of each interval (linear interpolation inside a bucket). */
function quantiles(scrapes: Scrape[], name: string, qs: number[]): Series {
  const series: Series = new Map(
    qs.map((q) => [`p${Math.round(q * 100)}`, Array(scrapes.length - 1).fill(null)]),
  )
  for (let i = 1; i < scrapes.length; i++) {
    const a = sum(scrapes[i - 1]!, `${name}_bucket`, (l) => l.le)
    const b = sum(scrapes[i]!, `${name}_bucket`, (l) => l.le)
    const buckets = [...b]
      .map(([le, v]) => ({ le: le === '+Inf' ? Infinity : Number(le), n: v - (a.get(le) ?? 0) }))
      .sort((x, y) => x.le - y.le)
    const total = buckets.at(-1)?.n ?? 0
    if (total <= 0) continue
    for (const q of qs) {
      const rank = q * total
      let prevLe = 0
      let prevN = 0
      for (const bk of buckets) {
        if (bk.n >= rank) {
          const le = bk.le === Infinity ? prevLe : bk.le
          const v = bk.n === prevN ? le : prevLe + ((le - prevLe) * (rank - prevN)) / (bk.n - prevN)
          series.get(`p${Math.round(q * 100)}`)![i - 1] = v
          break
        }
        prevLe = bk.le
        prevN = bk.n
      }
    }
  }
  return series
}

export function panels(scrapes: Scrape[]): Panel[] {
  const tp = (l: Record<string, string>) => `${l.topology}[${l.partition}]`
  const tx = rates(scrapes, METRIC.transactions, 'result')
  for (const [k, v] of rates(scrapes, METRIC.fenced)) tx.set(k === 'total' ? 'fenced' : k, v)
  const mem = gauges(scrapes, 'process_resident_memory_bytes', () => 'rss')
  for (const [k, v] of gauges(scrapes, 'nodejs_heap_size_used_bytes', () => 'heap used')) mem.set(k, v)
  const restore = gauges(scrapes, METRIC.restoreRemaining, () => 'remaining')
  for (const [k, v] of rates(scrapes, METRIC.restoredRecords))
    restore.set(k === 'total' ? 'restored/s' : k, v)
  return [
    { title: 'Commands/s by outcome', unit: '/s', series: rates(scrapes, METRIC.commands, 'outcome') },
    {
      title: 'End-to-end latency (record timestamp -> commit)',
      unit: 's',
      series: quantiles(scrapes, METRIC.commandLatency, [0.5, 0.95, 0.99]),
    },
    { title: 'Consumer lag by partition (offsets)', unit: '', series: gauges(scrapes, METRIC.lag, tp) },
    {
      title: 'Transaction commit time',
      unit: 's',
      series: quantiles(scrapes, METRIC.commitSeconds, [0.5, 0.99]),
    },
    { title: 'Transactions/s by result, fenced', unit: '/s', series: tx },
    { title: 'Task states', unit: '', series: gauges(scrapes, METRIC.taskState, (l) => l.state) },
    { title: 'Restores', unit: '', series: restore },
    { title: 'Dead letters/s by reason', unit: '/s', series: rates(scrapes, METRIC.deadLetters, 'reason') },
    { title: 'Process memory', unit: 'B', series: mem },
    { title: 'Process CPU (cores)', unit: '', series: rates(scrapes, 'process_cpu_seconds_total') },
  ]
}

const COLORS = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#7f7f7f',
  '#bcbd22',
]
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function fmt(v: number, unit: string): string {
  if (unit === 'B') return v >= 1e9 ? `${(v / 1e9).toFixed(1)} GB` : `${(v / 1e6).toFixed(0)} MB`
  if (unit === 's') return v >= 1 ? `${v.toFixed(2)} s` : `${(v * 1000).toFixed(v < 0.01 ? 2 : 0)} ms`
  const n = Math.abs(v) >= 1000 ? `${(v / 1000).toFixed(1)}k` : Number.isInteger(v) ? String(v) : v.toFixed(2)
  return unit === '/s' ? `${n}/s` : n
}

export function renderSvg(ps: Panel[], o: { title: string; seconds: number }): string {
  const W = 480
  const H = 230
  const cols = 2
  const pad = { l: 62, r: 12, t: 28, b: 50 }
  const rows = Math.ceil(ps.length / cols)
  const out: string[] = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W * cols}" height="${H * rows + 40}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
  )
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`)
  out.push(`<text x="12" y="24" font-size="16" font-weight="bold">${esc(o.title)}</text>`)
  ps.forEach((p, i) => {
    const x0 = (i % cols) * W
    const y0 = 40 + Math.floor(i / cols) * H
    const pw = W - pad.l - pad.r
    const ph = H - pad.t - pad.b
    const all = [...p.series.values()].flat().filter((v): v is number => v !== null && Number.isFinite(v))
    const max = Math.max(1e-9, ...all) * 1.1
    const n = Math.max(2, ...[...p.series.values()].map((s) => s.length))
    out.push(`<g transform="translate(${x0},${y0})">`)
    out.push(`<rect x="4" y="2" width="${W - 8}" height="${H - 6}" fill="#fafafa" stroke="#dddddd"/>`)
    out.push(`<text x="${pad.l}" y="18" font-weight="bold">${esc(p.title)}</text>`)
    for (let g = 0; g <= 4; g++) {
      const y = pad.t + ph - (ph * g) / 4
      out.push(`<line x1="${pad.l}" x2="${pad.l + pw}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`)
      out.push(
        `<text x="${pad.l - 4}" y="${y + 4}" text-anchor="end" fill="#555">${esc(fmt((max * g) / 4, p.unit))}</text>`,
      )
    }
    out.push(
      `<text x="${pad.l}" y="${pad.t + ph + 14}" fill="#555">-${o.seconds}s</text><text x="${pad.l + pw}" y="${pad.t + ph + 14}" text-anchor="end" fill="#555">now</text>`,
    )
    if (all.length === 0)
      out.push(
        `<text x="${pad.l + pw / 2}" y="${pad.t + ph / 2}" text-anchor="middle" fill="#999">no data</text>`,
      )
    let lx = pad.l
    let ly = pad.t + ph + 30
    ;[...p.series.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .forEach(([name, values], si) => {
        const color = COLORS[si % COLORS.length]!
        const pts: string[] = []
        const segments: string[] = []
        values.forEach((v, j) => {
          if (v === null || !Number.isFinite(v)) {
            if (pts.length) segments.push(pts.splice(0).join(' '))
            return
          }
          pts.push(`${(pad.l + (pw * j) / (n - 1)).toFixed(1)},${(pad.t + ph - (ph * v) / max).toFixed(1)}`)
        })
        if (pts.length) segments.push(pts.join(' '))
        for (const s of segments)
          out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.6" points="${s}"/>`)
        const label = `${name} ${fmt(values.filter((v): v is number => v !== null).at(-1) ?? 0, p.unit)}`
        if (lx + label.length * 6 + 14 > W - 8) {
          lx = pad.l
          ly += 13
        }
        out.push(
          `<rect x="${lx}" y="${ly - 8}" width="9" height="9" fill="${color}"/><text x="${lx + 12}" y="${ly}">${esc(label)}</text>`,
        )
        lx += label.length * 6 + 22
      })
    out.push(`</g>`)
  })
  out.push(`</svg>`)
  return out.join('\n') + '\n'
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:9464/metrics' },
      seconds: { type: 'string', default: '60' },
      interval: { type: 'string', default: '1' },
      out: { type: 'string', default: 'docs/dashboard.svg' },
    },
  })
  const seconds = Number(values.seconds)
  const intervalMs = Number(values.interval) * 1000
  const scrapes: Scrape[] = []
  const end = Date.now() + seconds * 1000
  while (Date.now() <= end) {
    const t = Date.now()
    try {
      const r = await fetch(values.url)
      scrapes.push({ t, samples: parsePrometheusText(await r.text()) })
    } catch (e) {
      console.error(`scrape failed: ${(e as Error).message}`)
    }
    await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (Date.now() - t))))
  }
  if (scrapes.length < 2) throw new Error(`only ${scrapes.length} successful scrapes of ${values.url}`)
  const svg = renderSvg(panels(scrapes), {
    title: `kafka-decider — ${values.url}, ${seconds} s, ${scrapes.length} scrapes, ${new Date(scrapes[0]!.t).toISOString()}`,
    seconds,
  })
  mkdirSync(path.dirname(values.out), { recursive: true })
  writeFileSync(values.out, svg)
  console.log(`wrote ${values.out} (${scrapes.length} scrapes)`)
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
