/**
 * npm run bench:projection [-- --events N --aggregates N --partitions N --brokers h:p]
 * Time to rebuild a projection from N events already on its source topic (a broker of its own unless --brokers).
 */
import { parseArgs } from 'node:util'
import { runProjectionBench } from '../bench/projection.ts'

const { values } = parseArgs({
  options: {
    events: { type: 'string' },
    aggregates: { type: 'string' },
    partitions: { type: 'string' },
    brokers: { type: 'string' },
  },
})
const num = (v: string | undefined, d: number) => (v === undefined ? d : Number(v.replace(/_/g, '')))
const r = await runProjectionBench({
  events: num(values.events, 1_000_000),
  aggregates: num(values.aggregates, 100_000),
  partitions: num(values.partitions, 6),
  ...(values.brokers ? { brokers: values.brokers.split(',') } : {}),
  log: (m) => console.error(m),
})
console.log(
  `projection rebuild: ${r.events} events (${r.aggregates} aggregates, 2 view keys each, ${r.partitions} partitions) ` +
    `in ${r.rebuildSeconds.toFixed(1)} s = ${r.eventsPerSecond} events/s; peak RSS ${r.peakRssMb} MB`,
)
console.log(JSON.stringify(r))
