/**
 * The event reads of a worker, from the event index of its RUNNING tasks (src/state/event-index.ts): committed
 * events only (the index is written after the commit), never another worker's partitions (ask their owner).
 *
 * GET /aggregates/<topology>/<aggregateId>/events?fromVersion=&toVersion=&limit=&history=recorded|corrected&raw=
 *   200 { partition, aggregateId, events: [{ offset, event }], nextFromVersion? }   (version order; at most `limit`
 *        stored events, default and maximum 1000; nextFromVersion when more may follow). Each event as a read shows
 *        it (domain/event-reads.ts, what `decider events` prints): upcast to the topology's decider and linked to its
 *        corrections: `history=recorded` (default) every event, a corrected one with `correctedBy: [{ eventId,
 *        reason }]`, also when the correction lies beyond the page or the range (the events after it are read for
 *        their corrections); `history=corrected` without the events a correction names (a page may then hold fewer
 *        than `limit`, even none, with nextFromVersion). `raw=true`: as stored (no upcasting, no marks).
 *   400 bad_request; 404/503 as /state (unknown_topology, not_assigned, starting, not_running, read_failed)
 * GET /events/<topology>?from=<token>&limit=
 *   200 { events: [{ partition, offset, event }], next, partitions, notServed }   the partitions this worker runs,
 *        in commit order per partition, from the position token (domain/position.ts) on; at most `limit`
 *        (default 500, maximum 5000), taken from the lowest partition first. `next` resumes after the page;
 *        fewer events than `limit` means every served partition was read to the end of its index.
 */
import { correctedHistory } from '../domain/corrections.ts'
import type { AnyDecider } from '../domain/decider.ts'
import type { EventEnvelope } from '../domain/envelopes.ts'
import { eventsForReading, HISTORY_VIEWS, type HistoryView } from '../domain/event-reads.ts'
import { decodePosition, encodePosition } from '../domain/position.ts'
import { upcastEvent } from '../domain/upcasting.ts'
import { InvalidPositionError } from '../errors.ts'
import { eventOf, type IndexedEvent, type VersionRange } from '../state/event-index.ts'
import { TaskState } from '../runtime/task-state.ts'
import { partitionOf } from '../kafka/partitioner.ts'
import { runningTask, type QueryableTask, type StateResponse, type TopologyInfo } from './state.ts'

export interface EventQueryableTask extends QueryableTask {
  committedEvents(aggregateId: string, range: VersionRange): Promise<IndexedEvent[]>
  committedEventsFrom(offset: bigint, limit: number): Promise<IndexedEvent[]>
}

export interface EventQueryableRunner {
  readonly name: string
  readonly tasks: ReadonlyMap<number, EventQueryableTask>
}

export interface EventQueries {
  aggregateEvents(topology: string, aggregateId: string, query: URLSearchParams): Promise<StateResponse>
  allEvents(topology: string, query: URLSearchParams): Promise<StateResponse>
}

const AGGREGATE_LIMIT = 1000
const ALL_LIMIT = 5000

/** A topology the reads serve; with its decider, stored events are shown upcast to it (else as stored). */
export type EventTopologyInfo = TopologyInfo & { decider?: AnyDecider }

export function eventQueries(
  topologies: readonly EventTopologyInfo[],
  runners: () => Iterable<EventQueryableRunner>,
): EventQueries {
  const deciderOf = (name: string) => topologies.find((t) => t.definition.name === name)?.decider
  const read = (name: string, stored: EventEnvelope): EventEnvelope => {
    const decider = deciderOf(name)
    return decider === undefined ? stored : upcastEvent(decider, stored)
  }
  return {
    async aggregateEvents(name, aggregateId, query) {
      const fromVersion = intParam(query, 'fromVersion')
      const toVersion = intParam(query, 'toVersion')
      const limit = intParam(query, 'limit')
      for (const v of [fromVersion, toVersion, limit]) if (typeof v === 'string') return badRequest(v)
      const history = query.get('history') ?? 'recorded'
      if (!(HISTORY_VIEWS as readonly string[]).includes(history))
        return badRequest(`history must be one of ${HISTORY_VIEWS.join(', ')}, got "${history.slice(0, 40)}"`)
      const raw = query.get('raw')
      if (raw !== null && raw !== 'true' && raw !== 'false')
        return badRequest(`raw must be true or false, got "${raw.slice(0, 40)}"`)
      if (raw === 'true' && history !== 'recorded')
        return badRequest('raw=true shows the events as stored: it cannot be combined with history=corrected')
      const max = Math.min((limit as number | undefined) ?? AGGREGATE_LIMIT, AGGREGATE_LIMIT)
      const found = runningTask(topologies, runners, name, (t) =>
        partitionOf(aggregateId, t.definition.partitions),
      )
      if ('status' in found) return found
      const { task, partition } = found
      let events: IndexedEvent[]
      let later: EventEnvelope[] = []
      try {
        events = await task.committedEvents(aggregateId, {
          ...(fromVersion === undefined ? {} : { fromVersion: fromVersion as number }),
          ...(toVersion === undefined ? {} : { toVersion: toVersion as number }),
          limit: max,
        })
        // Events after the page may correct events in it: read them for their links (not when the page ends the
        // aggregate, the usual case).
        const cut = events.length === max || toVersion !== undefined
        if (raw !== 'true' && cut && events.length > 0)
          later = await correctionsAfter(task, aggregateId, events)
      } catch (e) {
        return readFailed(partition, e)
      }
      const last = events[events.length - 1]
      const more = events.length === max && last !== undefined && last.version !== toVersion
      const offsets = new Map(events.map((e) => [e.version, e.offset.toString()]))
      const stored = events.map(eventOf)
      const decider = deciderOf(name)
      const shown =
        raw === 'true'
          ? stored
          : decider !== undefined
            ? eventsForReading(decider, [...stored, ...later], history as HistoryView)
            : correctedHistory([...stored, ...later])[history === 'corrected' ? 'asCorrected' : 'asRecorded']
      return {
        status: 200,
        body: {
          partition,
          aggregateId,
          events: shown
            .filter((e) => offsets.has(e.version))
            .map((e) => ({ offset: offsets.get(e.version)!, event: e })),
          ...(more ? { nextFromVersion: last.version + 1 } : {}),
        },
      }
    },

    async allEvents(name, query) {
      let position: Map<number, bigint>
      try {
        position = decodePosition(query.get('from') ?? undefined)
      } catch (e) {
        if (e instanceof InvalidPositionError) return badRequest(e.message)
        throw e
      }
      const limit = intParam(query, 'limit')
      if (typeof limit === 'string') return badRequest(limit)
      let room = Math.min(limit ?? 500, ALL_LIMIT)
      const topology = topologies.find((t) => t.definition.name === name)
      const runner = [...runners()].find((r) => r.name === name)
      if (topology === undefined || runner === undefined)
        return runningTask(topologies, runners, name, () => 0) as StateResponse
      const events: { partition: number; offset: string; event: unknown }[] = []
      const partitions: number[] = []
      const notServed: { partition: number; reason: string }[] = []
      for (let p = 0; p < topology.definition.partitions; p++) {
        const task = runner.tasks.get(p)
        if (task === undefined || task.state !== TaskState.RUNNING) {
          notServed.push({ partition: p, reason: task === undefined ? 'not_assigned' : 'not_running' })
          continue
        }
        partitions.push(p)
        if (room === 0) continue
        let page: IndexedEvent[]
        try {
          page = await task.committedEventsFrom(position.get(p) ?? 0n, room)
        } catch (e) {
          return readFailed(p, e)
        }
        for (const e of page)
          events.push({ partition: p, offset: e.offset.toString(), event: read(name, eventOf(e)) })
        const last = page[page.length - 1]
        if (last !== undefined) position.set(p, last.offset + 1n)
        room -= page.length
      }
      return { status: 200, body: { events, next: encodePosition(position), partitions, notServed } }
    },
  }
}

/**
 * The events after `page` (one aggregate's, version order) that correct an event of it: read in chunks from the
 * version after the page to the aggregate's end, O(those events); only the corrections are kept.
 */
async function correctionsAfter(
  task: EventQueryableTask,
  aggregateId: string,
  page: readonly IndexedEvent[],
): Promise<EventEnvelope[]> {
  const ids = new Set(page.map((e) => `${aggregateId}@${e.version}`))
  const found: EventEnvelope[] = []
  let from = page[page.length - 1]!.version + 1
  for (;;) {
    const chunk = await task.committedEvents(aggregateId, { fromVersion: from, limit: AGGREGATE_LIMIT })
    for (const indexed of chunk) {
      const e = eventOf(indexed)
      if (Array.isArray(e.corrects) && e.corrects.some((id) => ids.has(id))) found.push(e)
    }
    if (chunk.length < AGGREGATE_LIMIT) return found
    from = chunk[chunk.length - 1]!.version + 1
  }
}

/** A non-negative integer query parameter; undefined when absent; a message when malformed. */
function intParam(query: URLSearchParams, name: string): number | undefined | string {
  const v = query.get(name)
  if (v === null || v === '') return undefined
  if (!/^\d{1,15}$/.test(v)) return `${name} must be a non-negative integer, got "${v.slice(0, 40)}"`
  return Number(v)
}

function badRequest(message: string): StateResponse {
  return { status: 400, body: { error: message, code: 'bad_request' } }
}

function readFailed(partition: number, e: unknown): StateResponse {
  return {
    status: 503,
    body: {
      error: `reading the event index of partition ${partition} failed: ${(e as Error).message}; try again`,
      code: 'read_failed',
      partition,
    },
  }
}
