/**
 * npm run bench [-- --brokers h:p --backlog N --accounts N --aggregates N --latency-seconds S --workers 1,2,3
 *                   --record-size B --perf-records N --profile-dir DIR --dedupe N --chart FILE|none]
 * Prints the table; writes JSON to bench/results/ and the chart (default docs/bench-results.svg).
 */
import path from 'node:path'
import { parseArgs } from 'node:util'
import { DEFAULT_OPTIONS, runBench, type BenchOptions } from '../bench/bench.ts'
import { formatTable } from '../bench/table.ts'

const { values } = parseArgs({
  options: {
    brokers: { type: 'string' },
    backlog: { type: 'string' },
    accounts: { type: 'string' },
    aggregates: { type: 'string' },
    'latency-seconds': { type: 'string' },
    workers: { type: 'string' },
    'record-size': { type: 'string' },
    'perf-records': { type: 'string' },
    'profile-dir': { type: 'string' },
    dedupe: { type: 'string' },
    chart: { type: 'string' },
  },
})

const num = (v: string | undefined, d: number) => {
  if (v === undefined) return d
  const n = Number(v.replace(/_/g, ''))
  if (!Number.isFinite(n) || n <= 0) throw new Error(`not a positive number: ${v}`)
  return n
}

const opts: Partial<BenchOptions> = {
  backlog: num(values.backlog, DEFAULT_OPTIONS.backlog),
  accounts: num(values.accounts, DEFAULT_OPTIONS.accounts),
  aggregates: num(values.aggregates, DEFAULT_OPTIONS.aggregates),
  latencySeconds: num(values['latency-seconds'], DEFAULT_OPTIONS.latencySeconds),
  workers: values.workers ? values.workers.split(',').map((w) => num(w, 1)) : DEFAULT_OPTIONS.workers,
  recordSize: num(values['record-size'], DEFAULT_OPTIONS.recordSize),
  perfRecords: num(values['perf-records'], DEFAULT_OPTIONS.perfRecords),
  chartFile:
    values.chart === 'none'
      ? null
      : path.resolve(values.chart ?? path.join(import.meta.dirname, '../docs/bench-results.svg')),
  log: (m) => console.error(m),
}
if (values.brokers)
  opts.brokers = values.brokers
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean)
if (values.dedupe !== undefined) opts.dedupeWindow = Number(values.dedupe)
if (values['profile-dir']) opts.profileDir = path.resolve(values['profile-dir'])

const result = await runBench(opts)
console.log(formatTable(result))
