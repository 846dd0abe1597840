/**
 * Summarises V8 .cpuprofile files (node --cpu-prof): self time by area (package / project folder) and the top
 * functions, optionally for a time window only. Usage:
 *   node --import tsx bench/profile-summary.ts <file.cpuprofile|dir> [top] [fromSeconds toSeconds]
 *   node --import tsx bench/profile-summary.ts <file.cpuprofile|dir> --stages [cpuSecondsPer1000Commands [fromSeconds toSeconds]]
 * (--stages: the split by stage of a command's path, bench/profile-stages.ts.)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'

export interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
  children?: number[]
}
export interface Profile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples?: number[]
  timeDeltas?: number[]
}

/** Self-time hits per node id, only for samples between fromS and toS seconds after the profile start. */
export function windowHits(p: Profile, fromS: number, toS: number): Map<number, number> {
  const hits = new Map<number, number>()
  let t = 0
  const samples = p.samples ?? []
  for (let i = 0; i < samples.length; i++) {
    t += p.timeDeltas?.[i] ?? 0
    const s = t / 1e6
    if (s < fromS || s >= toS) continue
    hits.set(samples[i]!, (hits.get(samples[i]!) ?? 0) + 1)
  }
  return hits
}

/** Busy share (not idle) per 1-second bin: shows when the worker's main thread was saturated. */
export function busyBins(p: Profile): string {
  const idle = new Set(p.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id))
  const bins: { n: number; idle: number }[] = []
  let t = 0
  const samples = p.samples ?? []
  for (let i = 0; i < samples.length; i++) {
    t += p.timeDeltas?.[i] ?? 0
    const b = Math.floor(t / 1e6)
    const x = (bins[b] ??= { n: 0, idle: 0 })
    x.n++
    if (idle.has(samples[i]!)) x.idle++
  }
  return bins.map((x, i) => `${i}s:${x ? Math.round(100 - (100 * x.idle) / x.n) : 0}%`).join(' ')
}

export function area(url: string, fn: string): string {
  if (url === '') return fn.startsWith('(') ? fn : '(native)'
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (nm) return nm[1]!
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0]
  const src = /\/(src\/[^/]+|topologies|bin)\//.exec(url)
  if (src) return src[1]!
  return url
}

export function summarise(p: Profile, top = 25, window?: [number, number]): string {
  const hits = window ? windowHits(p, window[0], window[1]) : undefined
  const hitsOf = (n: ProfileNode) => (hits ? (hits.get(n.id) ?? 0) : (n.hitCount ?? 0))
  const total = p.nodes.reduce((a, n) => a + hitsOf(n), 0)
  const ms = (p.endTime - p.startTime) / 1000
  const byArea = new Map<string, number>()
  const byFn = new Map<string, number>()
  for (const n of p.nodes) {
    const h = hitsOf(n)
    if (h === 0) continue
    const a = area(n.callFrame.url, n.callFrame.functionName)
    byArea.set(a, (byArea.get(a) ?? 0) + h)
    const f = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url ? `${path.basename(n.callFrame.url)}:${n.callFrame.lineNumber + 1}` : ''} [${a}]`
    byFn.set(f, (byFn.get(f) ?? 0) + h)
  }
  const pct = (h: number) => `${((100 * h) / total).toFixed(1).padStart(5)}%`
  const span = window
    ? `${window[0]}-${window[1]} s of ${(ms / 1000).toFixed(1)} s`
    : `${(ms / 1000).toFixed(1)} s`
  const lines = [`${total} samples over ${span}`, `busy per second: ${busyBins(p)}`, '', 'self time by area:']
  const busy = total - (byArea.get('(idle)') ?? 0)
  for (const [a, h] of [...byArea].sort((x, y) => y[1] - x[1]).slice(0, 20))
    lines.push(`  ${pct(h)}  ${((100 * h) / busy).toFixed(1).padStart(5)}% of busy  ${a}`)
  lines.push('', `top ${top} functions (self):`)
  for (const [f, h] of [...byFn].sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`  ${pct(h)}  ${f}`)
  return lines.join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = process.argv[2]
  const stages = process.argv[3] === '--stages'
  if (!arg) throw new Error('usage: profile-summary.ts <file.cpuprofile|dir> [top] [fromSeconds toSeconds]')
  const from = process.argv[4]
  const to = process.argv[5]
  const window: [number, number] | undefined =
    from !== undefined && to !== undefined ? [Number(from), Number(to)] : undefined
  const files = statSync(arg).isDirectory()
    ? readdirSync(arg)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => path.join(arg, f))
    : [arg]
  for (const f of files) {
    console.log(`== ${f}`)
    if (stages) {
      const { formatStages } = await import('./profile-stages.ts')
      const per1k = process.argv[4] === undefined ? undefined : Number(process.argv[4])
      const between: [number, number] | undefined =
        process.argv[5] !== undefined && process.argv[6] !== undefined
          ? [Number(process.argv[5]), Number(process.argv[6])]
          : undefined
      console.log(formatStages(JSON.parse(readFileSync(f, 'utf8')) as Profile, per1k, between))
      continue
    }
    console.log(
      summarise(JSON.parse(readFileSync(f, 'utf8')) as Profile, Number(process.argv[3] ?? 25), window),
    )
  }
}
