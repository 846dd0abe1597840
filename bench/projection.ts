/**
 * Projection rebuild benchmark: N committed events already on a source topic, a projection started from nothing (as
 * after `decider rebuild`): the time until every event is routed and applied (both stages, exactly-once), with the
 * broker on the same machine. The projection keys views by aggregate (`views` of them) and by day (a second key
 * per event: every event is routed twice).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import pino from 'pino'
import { CONTENT_TYPES, encode } from '../src/domain/codec.ts'
import type { EventEnvelope } from '../src/domain/envelopes.ts'
import { sourceId } from '../src/domain/projection-records.ts'
import { resolveWorkerConfig } from '../src/config/worker-config.ts'
import { startKafka } from '../src/devkafka/cluster.ts'
import { loadProjection } from '../src/topology/projection-loader.ts'
import { Worker } from '../src/worker/worker.ts'

export interface ProjectionBenchOptions {
  brokers?: string[]
  events: number
  aggregates: number
  partitions: number
  log: (m: string) => void
}

export interface ProjectionBenchResult {
  events: number
  aggregates: number
  partitions: number
  produceSeconds: number
  /** From the worker's start until every source event is applied by the projection tasks. */
  rebuildSeconds: number
  eventsPerSecond: number
  peakRssMb: number
}

const PROJECTOR = `
export default {
  initialState: () => ({ n: 0, sum: 0 }),
  key: (e) => ['account:' + e.aggregateId, 'day:' + e.eventTime.slice(0, 10)],
  project: (v, e) => ({ n: v.n + 1, sum: v.sum + (e.payload.amount ?? 0) }),
}
`

export async function runProjectionBench(o: ProjectionBenchOptions): Promise<ProjectionBenchResult> {
  const broker = o.brokers === undefined ? await startKafka({ heapMb: 1024 }) : undefined
  const brokers = o.brokers ?? broker!.brokers
  const dir = mkdtempSync(path.join(tmpdir(), 'kd-bench-projection-'))
  try {
    const kafka = new Kafka({ brokers, clientId: 'bench-projection', logLevel: logLevel.NOTHING })
    const topic = `bench-events-${Date.now()}`
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: o.partitions }], waitForLeaders: true })
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const started = Date.now()
    const headers = { 'content-type': CONTENT_TYPES.msgpack }
    const versions = new Map<number, number>()
    const day0 = Date.UTC(2026, 0, 1)
    for (let i = 0; i < o.events; i += 5000) {
      const messages = []
      for (let j = i; j < Math.min(o.events, i + 5000); j++) {
        const a = j % o.aggregates
        const version = (versions.get(a) ?? 0) + 1
        versions.set(a, version)
        const time = new Date(day0 + (j % 365) * 86_400_000).toISOString()
        const e: EventEnvelope = {
          eventId: `acc-${a}@${version}`,
          type: 'MoneyDeposited',
          aggregateId: `acc-${a}`,
          version,
          payload: { amount: 100 + (j % 7), balance: 0 },
          commandId: `c-${j}`,
          correlationId: `c-${j}`,
          causationId: `c-${j}`,
          eventTime: time,
          recordedAt: time,
          schemaVersion: 1,
        }
        messages.push({ key: e.aggregateId, value: encode(e, 'msgpack'), headers })
      }
      await producer.send({ topic, messages })
    }
    await producer.disconnect()
    const produceSeconds = (Date.now() - started) / 1000
    const ends = await admin.fetchTopicOffsets(topic)
    await admin.disconnect()
    o.log(`produced ${o.events} events in ${produceSeconds.toFixed(1)} s; starting the projection`)

    writeFileSync(path.join(dir, 'p.mjs'), PROJECTOR)
    const file = path.join(dir, 'p.yaml')
    writeFileSync(
      file,
      `kind: projection\nname: bench-p-${Date.now()}\nprojection: ./p.mjs\nsources:\n  - topic: ${topic}\npartitions: ${o.partitions}\n`,
    )
    const projection = await loadProjection(file)
    const worker = new Worker({
      topologies: [],
      projections: [projection],
      config: resolveWorkerConfig(
        {
          kafka: { brokers },
          stateDir: path.join(dir, 'state'),
          http: { enabled: false },
          log: { level: 'warn' },
        },
        {},
      ),
      logger: pino({ level: 'warn' }),
    })
    const t0 = Date.now()
    let peakRss = 0
    await worker.start()
    const target = new Map(ends.map((e) => [sourceId(topic, e.partition), BigInt(e.high) - 1n]))
    const deadline = Date.now() + 1_800_000
    for (;;) {
      peakRss = Math.max(peakRss, process.memoryUsage().rss)
      const tasks = [...worker.projectionRunners[0]!.tasks.values()]
      const reached = [...target].every(
        ([src, last]) =>
          tasks.length === o.partitions &&
          tasks.every((t) => (t.sourcePositions().get(src)?.offset ?? -1n) >= last),
      )
      if (reached) break
      if (Date.now() > deadline) throw new Error('the projection did not catch up within 30 min')
      await new Promise((r) => setTimeout(r, 200))
    }
    const rebuildSeconds = (Date.now() - t0) / 1000
    await worker.stop()
    return {
      events: o.events,
      aggregates: o.aggregates,
      partitions: o.partitions,
      produceSeconds,
      rebuildSeconds,
      eventsPerSecond: Math.round(o.events / rebuildSeconds),
      peakRssMb: Math.round(peakRss / 1024 / 1024),
    }
  } finally {
    await broker?.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}
