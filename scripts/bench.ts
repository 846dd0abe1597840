/**
 * npm run bench [-- --only baselines,eos,scale,scaleout,failover,spread,kstreams,kslatency
 *                   --brokers h:p --backlog N --accounts N --aggregates N --latency-seconds S
 *                   --latency-rates R100,R50,R10 --workers 1,2,3
 *                   --record-size B --perf-records N --profile-dir DIR --dedupe N --chart FILE|none
 *                   --failover-aggregates N --failover-rate N --failover-standbys 0,1
 *                   --spread-aggregates N --spread-rate N --spread-seconds S
 *                   --steady-backlog N --steady-aggregates 10000,500000
 *                   --ks-latency-rates 18000,3600 --ks-commit-intervals 100,20
 *                   --processing fetchMinBytes=65536,fetchMaxWaitMs=20 --broker-warmup S --partitions N]
 * (kstreams: the Kafka Streams exactly_once_v2 baseline of issue 20, bench/kstreams.ts; kslatency: its latency and
 * the decider's at the same rates, bench/kstreams-latency.ts.) Prints the table; writes JSON to bench/results/ and
 * the chart (default docs/bench-results.svg; not written when none of baselines, eos, scaleout ran).
 * --broker-warmup S: at most S seconds (default 180) of load before the phases, until the broker's JIT compilers are
 * quiet (bench/warmup.ts); 0 skips it.
 */
import path from 'node:path'
import { parseArgs } from 'node:util'
import { DEFAULT_OPTIONS, PHASES, runBench, type BenchOptions, type Phase } from '../bench/bench.ts'
import { formatTable } from '../bench/table.ts'

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    'failover-aggregates': { type: 'string' },
    'failover-rate': { type: 'string' },
    'failover-standbys': { type: 'string' },
    'spread-aggregates': { type: 'string' },
    processing: { type: 'string' },
    'spread-rate': { type: 'string' },
    'spread-seconds': { type: 'string' },
    brokers: { type: 'string' },
    backlog: { type: 'string' },
    accounts: { type: 'string' },
    aggregates: { type: 'string' },
    'latency-seconds': { type: 'string' },
    'latency-rates': { type: 'string' },
    workers: { type: 'string' },
    'record-size': { type: 'string' },
    'perf-records': { type: 'string' },
    'profile-dir': { type: 'string' },
    dedupe: { type: 'string' },
    chart: { type: 'string' },
    'steady-backlog': { type: 'string' },
    'steady-aggregates': { type: 'string' },
    'ks-latency-rates': { type: 'string' },
    'ks-commit-intervals': { type: 'string' },
    'broker-warmup': { type: 'string' },
    partitions: { type: 'string' },
  },
})

const num = (v: string | undefined, d: number) => {
  if (v === undefined) return d
  const n = Number(v.replace(/_/g, ''))
  if (!Number.isFinite(n) || n <= 0) throw new Error(`not a positive number: ${v}`)
  return n
}

const count = (v: string) => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new Error(`not a count: ${v}`)
  return n
}

const phases = (v: string | undefined): Phase[] => {
  if (v === undefined) return [...PHASES]
  const ps = v
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
  for (const p of ps)
    if (!(PHASES as readonly string[]).includes(p))
      throw new Error(`--only: unknown phase ${p} (phases: ${PHASES.join(', ')})`)
  return ps as Phase[]
}

const latencyRates = (v: string): [number, number, number] => {
  const rates = v.split(',').map((r) => num(r, 1))
  if (rates.length !== 3) throw new Error(`--latency-rates: expected three rates (R100,R50,R10), got ${v}`)
  return [rates[0]!, rates[1]!, rates[2]!]
}

const opts: Partial<BenchOptions> = {
  phases: phases(values.only),
  failoverAggregates: num(values['failover-aggregates'], DEFAULT_OPTIONS.failoverAggregates),
  failoverRate: num(values['failover-rate'], DEFAULT_OPTIONS.failoverRate),
  failoverStandbys: values['failover-standbys']
    ? values['failover-standbys'].split(',').map(count)
    : DEFAULT_OPTIONS.failoverStandbys,
  spreadAggregates: num(values['spread-aggregates'], DEFAULT_OPTIONS.spreadAggregates),
  spreadRate: num(values['spread-rate'], DEFAULT_OPTIONS.spreadRate),
  spreadSeconds: num(values['spread-seconds'], DEFAULT_OPTIONS.spreadSeconds),
  ...(values.processing
    ? {
        processing: Object.fromEntries(
          values.processing.split(',').map((kv) => {
            const [k, v] = kv.split('=')
            if (!k || v === undefined)
              throw new Error(`--processing: expected key=value[,key=value], got ${kv}`)
            const n = Number(v)
            if (!Number.isFinite(n) || n < 0)
              throw new Error(`--processing: ${k} must be a number >= 0, got ${v}`)
            return [k.trim(), n]
          }),
        ),
      }
    : {}),
  backlog: num(values.backlog, DEFAULT_OPTIONS.backlog),
  accounts: num(values.accounts, DEFAULT_OPTIONS.accounts),
  aggregates: num(values.aggregates, DEFAULT_OPTIONS.aggregates),
  latencySeconds: num(values['latency-seconds'], DEFAULT_OPTIONS.latencySeconds),
  ...(values['latency-rates'] ? { latencyRates: latencyRates(values['latency-rates']) } : {}),
  workers: values.workers ? values.workers.split(',').map((w) => num(w, 1)) : DEFAULT_OPTIONS.workers,
  recordSize: num(values['record-size'], DEFAULT_OPTIONS.recordSize),
  perfRecords: num(values['perf-records'], DEFAULT_OPTIONS.perfRecords),
  steadyBacklog: num(values['steady-backlog'], DEFAULT_OPTIONS.steadyBacklog),
  steadyAggregates: values['steady-aggregates']
    ? values['steady-aggregates'].split(',').map((a) => num(a, 1))
    : DEFAULT_OPTIONS.steadyAggregates,
  ...(values['ks-latency-rates']
    ? { ksLatencyRates: values['ks-latency-rates'].split(',').map((r) => num(r, 1)) }
    : {}),
  ksCommitIntervalsMs: values['ks-commit-intervals']
    ? values['ks-commit-intervals'].split(',').map((r) => num(r, 1))
    : DEFAULT_OPTIONS.ksCommitIntervalsMs,
  partitions: num(values.partitions, DEFAULT_OPTIONS.partitions),
  brokerWarmupSeconds:
    values['broker-warmup'] === undefined
      ? DEFAULT_OPTIONS.brokerWarmupSeconds
      : count(values['broker-warmup']),
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
