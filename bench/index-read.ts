/**
 * The event index read (src/state/event-index.ts): one aggregate's events in a partition whose index holds many
 * events of other aggregates. Fills a LevelSnapshotStore directly (no broker: the read does not touch Kafka),
 * through the same write() a committed batch uses, then times store.events(target) many times.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { encode } from '../src/domain/codec.ts'
import type { EventEnvelope } from '../src/domain/envelopes.ts'
import type { IndexedEvent } from '../src/state/event-index.ts'
import { LevelSnapshotStore } from '../src/state/level-store.ts'

export interface IndexBenchOptions {
  /** Events of other aggregates in the index. */
  others: number
  /** Distinct other aggregates they belong to. */
  otherAggregates: number
  /** Events of the aggregate that is read. */
  targetEvents: number
  reads: number
  log?: (m: string) => void
}

export interface IndexBenchResult {
  others: number
  targetEvents: number
  reads: number
  fillSeconds: number
  storeBytesOnDisk?: number
  readMs: { median: number; p99: number; max: number; mean: number }
}

export const DEFAULT_INDEX_OPTIONS: IndexBenchOptions = {
  others: 1_000_000,
  otherAggregates: 10_000,
  targetEvents: 100,
  reads: 2_000,
}

const event = (aggregateId: string, version: number): Buffer => {
  const e: EventEnvelope = {
    eventId: `${aggregateId}@${version}`,
    type: 'Deposited',
    aggregateId,
    version,
    payload: { amount: version % 100, note: 'bench' },
    commandId: `cmd-${aggregateId}-${version}`,
    correlationId: `cmd-${aggregateId}-${version}`,
    causationId: `cmd-${aggregateId}-${version}`,
    eventTime: '2024-01-01T00:00:00.000Z',
    recordedAt: '2024-01-01T00:00:00.000Z',
    schemaVersion: 1,
  }
  return encode(e, 'msgpack')
}

export async function runIndexBench(opts: Partial<IndexBenchOptions> = {}): Promise<IndexBenchResult> {
  const o = { ...DEFAULT_INDEX_OPTIONS, ...opts }
  const log = o.log ?? (() => undefined)
  const dir = await mkdtemp(path.join(tmpdir(), 'kd-index-bench-'))
  const store = await LevelSnapshotStore.open(dir, { topology: 'bench', changelogTopic: 'c', partition: 0 })
  try {
    // Commit order as a worker would see it: the target's events spread through the others'.
    const total = o.others + o.targetEvents
    const every = Math.floor(total / o.targetEvents)
    const versions = new Map<string, number>()
    let target = 0
    let other = 0
    let batch: IndexedEvent[] = []
    const started = performance.now()
    for (let offset = 0; offset < total; offset++) {
      const isTarget = (offset % every === every - 1 && target < o.targetEvents) || other >= o.others
      const id = isTarget ? 'the-target-account' : `account-${other % o.otherAggregates}`
      if (isTarget) target++
      else other++
      const version = (versions.get(id) ?? 0) + 1
      versions.set(id, version)
      batch.push({ aggregateId: id, version, offset: BigInt(offset), value: event(id, version) })
      if (batch.length === 5_000 || offset === total - 1) {
        await store.write(
          [],
          { changelogOffset: 0n, inputOffset: -1n, eventsOffset: BigInt(offset + 1) },
          batch,
        )
        batch = []
        if (offset % 100_000 < 5_000) log(`index filled: ${offset + 1}/${total}`)
      }
    }
    const fillSeconds = (performance.now() - started) / 1000
    const check = await store.events('the-target-account')
    if (check.length !== o.targetEvents)
      throw new Error(`expected ${o.targetEvents} target events, read ${check.length}`)

    for (let i = 0; i < 50; i++) await store.events('the-target-account') // warm-up
    const times: number[] = []
    for (let i = 0; i < o.reads; i++) {
      const t = performance.now()
      const got = await store.events('the-target-account')
      times.push(performance.now() - t)
      if (got.length !== o.targetEvents) throw new Error(`read ${got.length} events`)
    }
    times.sort((a, b) => a - b)
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!
    return {
      others: o.others,
      targetEvents: o.targetEvents,
      reads: o.reads,
      fillSeconds,
      readMs: {
        median: at(0.5),
        p99: at(0.99),
        max: times[times.length - 1]!,
        mean: times.reduce((a, b) => a + b, 0) / times.length,
      },
    }
  } finally {
    await store.close()
    await rm(dir, { recursive: true, force: true })
  }
}
