/**
 * ProjectionTask and RouterTask over the in-memory log: each routed event applied once (a re-delivery is dropped
 * by its source position, also after a restore), progress markers never hide the events before them, a store of
 * another changelog generation is cleared, and a throwing projector follows errors.onProjectError.
 */
import { describe, expect, it } from 'vitest'
import { encode } from '../../src/domain/codec.ts'
import type { EventEnvelope } from '../../src/domain/envelopes.ts'
import { PROGRESS_MARKER_KEY, type RoutedEvent } from '../../src/domain/projection-records.ts'
import { defineProjection } from '../../src/domain/projection.ts'
import { ProjectionFailedError } from '../../src/errors.ts'
import { partitionOf } from '../../src/kafka/partitioner.ts'
import { ProjectionTask, type ProjectionStats } from '../../src/runtime/projection-task.ts'
import { RouterTask } from '../../src/runtime/router-task.ts'
import { MemoryViewStore } from '../../src/state/view-store.ts'
import { MemoryLog } from '../../src/testing/memory-log.ts'
import {
  MemoryChangelogReader,
  MemoryTransactionalProducer,
  silentLogger,
} from '../../src/testing/memory-ports.ts'
import { fromProjection, type ProjectionTopology } from '../../src/topology/projection-loader.ts'

const SOURCE = 'bank.events'

const counting = defineProjection<{ type: string; payload: { amount?: number } }, { n: number; sum: number }>(
  {
    initialState: () => ({ n: 0, sum: 0 }),
    key: (e) => (e.type === 'Skip' ? undefined : [e.aggregateId, 'all']),
    project: (v, e) => {
      if (e.type === 'Boom') throw new Error('boom')
      return { n: v!.n + 1, sum: v!.sum + (e.payload.amount ?? 0) }
    },
  },
)

function setup(onProjectError: 'dead-letter' | 'stop' = 'dead-letter') {
  const log = new MemoryLog()
  const p = fromProjection(counting, { name: 'totals', partitions: 1, errors: { onProjectError } }, [
    { topic: SOURCE },
  ])
  log.createTopic(SOURCE, 1)
  for (const t of Object.values(p.topics)) log.createTopic(t, 1)
  return { log, p }
}

function projectionTask(
  log: MemoryLog,
  p: ProjectionTopology,
  store: MemoryViewStore,
  stats: ProjectionStats[] = [],
) {
  const input = p.topics.repartition
  return new ProjectionTask({
    projection: p,
    partition: 0,
    logger: silentLogger,
    createProducer: () =>
      new MemoryTransactionalProducer(log, {
        transactionalId: `totals-${input}-0`,
        groupId: 'totals',
        inputTopic: input,
        inputPartition: 0,
      }),
    readCommittedOffset: async () => {
      const c = log.committedOffset('totals', input, 0)
      return c === undefined ? undefined : BigInt(c)
    },
    changelog: new MemoryChangelogReader(log, p.topics.changelog, 0),
    openStore: async () => store,
    committed: (_t, s) => stats.push(s),
  })
}

const event = (aggregateId: string, version: number, type: string, amount?: number): EventEnvelope => ({
  eventId: `${aggregateId}@${version}`,
  type,
  aggregateId,
  version,
  payload: amount === undefined ? {} : { amount },
  commandId: `c-${aggregateId}-${version}`,
  correlationId: 'x',
  causationId: 'x',
  eventTime: '2026-01-01T00:00:00.000Z',
  recordedAt: '2026-01-01T00:00:00.000Z',
  schemaVersion: 1,
})

function route(log: MemoryLog, p: ProjectionTopology, offset: number, e: EventEnvelope, keyIndex = 0): void {
  const key = keyIndex === 0 ? e.aggregateId : 'all'
  const routed: RoutedEvent = {
    source: { topic: SOURCE, partition: 0, offset: String(offset) },
    keyIndex,
    event: e,
  }
  log.produce(p.topics.repartition, { key, value: encode(routed, 'msgpack'), partition: 0 })
}

function progress(log: MemoryLog, p: ProjectionTopology, offset: number): void {
  const m = { marker: 'progress', topic: SOURCE, partition: 0, offset: String(offset) }
  log.produce(p.topics.repartition, { key: PROGRESS_MARKER_KEY, value: encode(m, 'msgpack'), partition: 0 })
}

async function views(task: ProjectionTask) {
  return Object.fromEntries((await task.views({ limit: 100 })).map((v) => [v.key, v.view]))
}

describe('ProjectionTask', () => {
  it('applies each routed event once: a re-delivery (same source position) is dropped, also after a restore', async () => {
    const { log, p } = setup()
    const stats: ProjectionStats[] = []
    const task = projectionTask(log, p, new MemoryViewStore(), stats)
    await task.initialize()
    route(log, p, 0, event('a', 1, 'Deposited', 10))
    route(log, p, 0, event('a', 1, 'Deposited', 10), 1)
    route(log, p, 1, event('b', 1, 'Deposited', 5))
    route(log, p, 1, event('b', 1, 'Deposited', 5), 1)
    progress(log, p, 1) // the marker of that router transaction comes after its events
    route(log, p, 0, event('a', 1, 'Deposited', 10)) // a router that resumed from a stale offset
    route(log, p, 0, event('a', 1, 'Deposited', 10), 1)
    await task.process(log.inputRecords(p.topics.repartition, 0), () => undefined)
    expect(await views(task)).toEqual({ a: { n: 1, sum: 10 }, b: { n: 1, sum: 5 }, all: { n: 2, sum: 15 } })
    expect(stats.reduce((s, x) => s + x.duplicates, 0)).toBe(2)
    expect(task.sourcePositions().get(`${SOURCE}/0`)?.offset).toBe(1n)
    await task.close()

    // A new store restored from the changelog holds the same views and positions: old records stay dropped.
    const again = projectionTask(log, p, new MemoryViewStore())
    await again.initialize()
    expect(again.lastRestoreRecords).toBeGreaterThan(0)
    expect(await views(again)).toEqual({ a: { n: 1, sum: 10 }, b: { n: 1, sum: 5 }, all: { n: 2, sum: 15 } })
    route(log, p, 1, event('b', 1, 'Deposited', 5))
    route(log, p, 2, event('b', 2, 'Deposited', 7))
    await again.process(log.inputRecords(p.topics.repartition, 0, again.nextOffset - 2n), () => undefined)
    expect(await views(again)).toMatchObject({ b: { n: 2, sum: 12 } })
    await again.close()
  })

  it('waitFor resolves once a source offset is applied (a progress marker counts), false after its timeout', async () => {
    const { log, p } = setup()
    const task = projectionTask(log, p, new MemoryViewStore())
    await task.initialize()
    const waiting = task.waitFor(SOURCE, 0, 4n, 5_000)
    route(log, p, 3, event('a', 1, 'Deposited', 1))
    await task.process(log.inputRecords(p.topics.repartition, 0), () => undefined)
    expect(await task.waitFor(SOURCE, 0, 4n, 50)).toBe(false)
    progress(log, p, 4) // offset 4 routed to other partitions only
    await task.process(log.inputRecords(p.topics.repartition, 0, task.nextOffset), () => undefined)
    expect(await waiting).toBe(true)
    await task.close()
  })

  it('clears a store of another changelog generation (the projection was rebuilt) and restores the new one', async () => {
    const { log, p } = setup()
    const store = new MemoryViewStore()
    const first = projectionTask(log, p, store)
    await first.initialize()
    route(log, p, 0, event('a', 1, 'Deposited', 10))
    await first.process(log.inputRecords(p.topics.repartition, 0), () => undefined)
    await first.close()
    // "Rebuilt": a new log (topics recreated), another projector generation wrote 3 transactions there.
    const rebuilt = setup()
    const other = projectionTask(rebuilt.log, rebuilt.p, new MemoryViewStore())
    await other.initialize()
    for (let i = 0; i < 3; i++) {
      route(rebuilt.log, rebuilt.p, i, event('z', i + 1, 'Deposited', 1))
      await other.process(
        rebuilt.log.inputRecords(rebuilt.p.topics.repartition, 0, other.nextOffset),
        () => undefined,
      )
    }
    await other.close()
    // The old store (checkpoint of generation 1) restored against the rebuilt changelog: cleared, then restored.
    const moved = projectionTask(rebuilt.log, rebuilt.p, store)
    await moved.initialize()
    expect(await views(moved)).toEqual({ z: { n: 3, sum: 3 } }) // not the old generation's view of 'a'
    await moved.close()
  })

  it('a projector that throws: dead letter with its code and the event skipped; under stop, the worker stops', async () => {
    const { log, p } = setup()
    const task = projectionTask(log, p, new MemoryViewStore())
    await task.initialize()
    route(log, p, 0, event('a', 1, 'Boom'))
    route(log, p, 1, event('a', 2, 'Deposited', 3))
    await task.process(log.inputRecords(p.topics.repartition, 0), () => undefined)
    expect(await views(task)).toEqual({ a: { n: 1, sum: 3 } })
    const dlq = log.readAll(p.topics.deadLetters)
    expect(dlq).toHaveLength(1)
    expect(String(dlq[0]!.headers?.['kd-error-code'])).toBe('project_threw')
    expect(String(dlq[0]!.headers?.['kd-error-message'])).toMatch(/boom/)
    await task.close()

    const stopping = setup('stop')
    const strict = projectionTask(stopping.log, stopping.p, new MemoryViewStore())
    await strict.initialize()
    route(stopping.log, stopping.p, 0, event('a', 1, 'Boom'))
    await expect(
      strict.process(stopping.log.inputRecords(stopping.p.topics.repartition, 0), () => undefined),
    ).rejects.toBeInstanceOf(ProjectionFailedError)
    await strict.close()
  })
})

describe('RouterTask', () => {
  it('routes each event to the partition of each of its view keys, with a progress marker to every partition', async () => {
    const log = new MemoryLog()
    const p = fromProjection(counting, { name: 'totals', partitions: 3 }, [{ topic: SOURCE }])
    log.createTopic(SOURCE, 1)
    for (const t of Object.values(p.topics)) log.createTopic(t, t === p.topics.deadLetters ? 1 : 3)
    const group = `totals.route.${SOURCE}`
    const task = new RouterTask({
      projection: p,
      sourceTopic: SOURCE,
      partition: 0,
      partitioner: partitionOf,
      logger: silentLogger,
      createProducer: () =>
        new MemoryTransactionalProducer(log, {
          transactionalId: `${group}-0`,
          groupId: group,
          inputTopic: SOURCE,
          inputPartition: 0,
        }),
      readCommittedOffset: async () => undefined,
    })
    await task.initialize()
    for (const e of [event('a', 1, 'Deposited', 1), event('b', 1, 'Skip'), event('c', 1, 'Deposited', 2)])
      log.produce(SOURCE, { key: e.aggregateId, value: encode(e, 'msgpack'), partition: 0 })
    log.produce(SOURCE, { key: 'd', value: Buffer.from('not an event'), partition: 0 })
    await task.process(log.inputRecords(SOURCE, 0), () => undefined)
    const routed = log.readAll(p.topics.repartition)
    const data = routed.filter((r) => r.key?.toString() !== PROGRESS_MARKER_KEY)
    expect(data.map((r) => [r.key?.toString(), r.partition])).toEqual(
      expect.arrayContaining([
        ['a', partitionOf(Buffer.from('a'), 3)],
        ['all', partitionOf(Buffer.from('all'), 3)],
        ['c', partitionOf(Buffer.from('c'), 3)],
      ]),
    )
    expect(data).toHaveLength(4) // a, all (a), c, all (c); the Skip event has no key
    const markers = routed.filter((r) => r.key?.toString() === PROGRESS_MARKER_KEY)
    expect(markers.map((m) => m.partition).sort()).toEqual([0, 1, 2])
    expect(log.readAll(p.topics.deadLetters).map((r) => String(r.headers?.['kd-error-code']))).toEqual([
      'source_event_invalid',
    ])
    expect(log.committedOffset(group, SOURCE, 0)).toBe('4')
    await task.close()
  })
})
