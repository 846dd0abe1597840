/**
 * GET /aggregates/<topology>/<aggregateId>/state?eventTimeAsOf=&recordedAsOf=&version=
 * An aggregate's state as of a business time and/or a recording time (domain/as-of.ts), and/or at a version (the
 * events up to it: what the aggregate was after that event), folded from its
 * committed events in this worker's event index (upcast to the running decider's event versions when it declares
 * upcasters). Without either bound it is the fold of every committed event, which equals the snapshot.
 *   200 { partition, aggregateId, version, state, included, total, asOf }
 *   400 bad_request (a bound that is not a time); 404/503 as /state
 */
import { stateAsOf } from '../domain/as-of.ts'
import type { AnyDecider } from '../domain/decider.ts'
import type { EventEnvelope } from '../domain/envelopes.ts'
import { partitionOf } from '../kafka/partitioner.ts'
import { eventOf } from '../state/event-index.ts'
import type { EventQueryableRunner } from './events.ts'
import { runningTask, type StateResponse, type TopologyInfo } from './state.ts'

export type AsOfQuery = (
  topology: string,
  aggregateId: string,
  query: URLSearchParams,
) => Promise<StateResponse>

/** Reads at most this many events of one aggregate for an as-of answer (a bound on memory and time). */
const MAX_EVENTS = 100_000

export function asOfQuery(
  topologies: readonly (TopologyInfo & { decider: AnyDecider })[],
  runners: () => Iterable<EventQueryableRunner>,
  upcast: (decider: AnyDecider, e: EventEnvelope) => EventEnvelope = (_d, e) => e,
): AsOfQuery {
  return async (name, aggregateId, query) => {
    const found = runningTask(topologies, runners, name, (t) =>
      partitionOf(aggregateId, t.definition.partitions),
    )
    if ('status' in found) return found
    const { task, partition } = found
    const decider = topologies.find((t) => t.definition.name === name)!.decider
    let events: EventEnvelope[]
    try {
      const indexed = await task.committedEvents(aggregateId, { limit: MAX_EVENTS + 1 })
      if (indexed.length > MAX_EVENTS)
        return {
          status: 422,
          body: {
            error: `aggregate ${aggregateId} has more than ${MAX_EVENTS} events; as-of reads fold at most that many`,
            code: 'too_many_events',
          },
        }
      events = indexed.map((e) => upcast(decider, eventOf(e)))
    } catch (e) {
      return {
        status: 503,
        body: {
          error: `reading the event index failed: ${(e as Error).message}; try again`,
          code: 'read_failed',
        },
      }
    }
    const version = query.get('version')
    if (version !== null && !/^\d{1,15}$/.test(version))
      return {
        status: 400,
        body: {
          error: `version must be a non-negative integer, got "${version.slice(0, 40)}"`,
          code: 'bad_request',
        },
      }
    const total = events.length
    if (version !== null) events = events.filter((e) => e.version <= Number(version))
    try {
      const r = stateAsOf(decider, events, {
        eventTimeAsOf: query.get('eventTimeAsOf') ?? undefined,
        recordedAsOf: query.get('recordedAsOf') ?? undefined,
      })
      return {
        status: 200,
        body: {
          partition,
          aggregateId,
          ...r,
          total,
          ...(version !== null ? { asOf: { ...r.asOf, version: Number(version) } } : {}),
        },
      }
    } catch (e) {
      if (e instanceof RangeError) return { status: 400, body: { error: e.message, code: 'bad_request' } }
      throw e
    }
  }
}
