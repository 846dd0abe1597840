/**
 * npm run bench:index [-- --others N --target N --reads N]
 * Reads one aggregate's events from a LevelDB event index that holds N events of other aggregates (no broker).
 */
import { parseArgs } from 'node:util'
import { DEFAULT_INDEX_OPTIONS, runIndexBench } from '../bench/index-read.ts'

const { values } = parseArgs({
  options: { others: { type: 'string' }, target: { type: 'string' }, reads: { type: 'string' } },
})
const num = (v: string | undefined, d: number) => {
  if (v === undefined) return d
  const n = Number(v.replace(/_/g, ''))
  if (!Number.isInteger(n) || n <= 0) throw new Error(`not a positive integer: ${v}`)
  return n
}
const r = await runIndexBench({
  others: num(values.others, DEFAULT_INDEX_OPTIONS.others),
  targetEvents: num(values.target, DEFAULT_INDEX_OPTIONS.targetEvents),
  reads: num(values.reads, DEFAULT_INDEX_OPTIONS.reads),
  log: (m) => console.error(m),
})
const f = (ms: number) => ms.toFixed(3)
console.log(
  `events(aggregate): ${r.targetEvents} events among ${r.others} of other aggregates, ${r.reads} reads: ` +
    `median ${f(r.readMs.median)} ms, p99 ${f(r.readMs.p99)} ms, max ${f(r.readMs.max)} ms, mean ${f(r.readMs.mean)} ms ` +
    `(target < 20 ms); index filled in ${r.fillSeconds.toFixed(1)} s`,
)
console.log(JSON.stringify(r))
