/**
 * How `decider events` prints an aggregate's events: as a read shows them (src/domain/event-reads.ts), each at its
 * type's current schema version and linked to its corrections, as recorded or as corrected; or as stored (--raw).
 */
import type { AnyDecider } from '../domain/decider.ts'
import type { EventEnvelope } from '../domain/envelopes.ts'
import { eventsForReading, HISTORY_VIEWS, type HistoryView } from '../domain/event-reads.ts'
import { UsageError } from '../errors.ts'

export interface EventOutputOptions {
  /** `recorded` (default) or `corrected`. */
  history?: string
  /** Print the events as stored: no upcasting, no correction marks. */
  raw?: boolean
}

/** The --history option, checked before anything is read. */
export function historyView(o: EventOutputOptions): HistoryView {
  const v = o.history ?? 'recorded'
  if (!(HISTORY_VIEWS as readonly string[]).includes(v))
    throw new UsageError(`--history must be one of ${HISTORY_VIEWS.join(', ')}; got "${v}"`)
  if (o.raw && v !== 'recorded')
    throw new UsageError('--raw prints the events as stored: it cannot be combined with --history corrected')
  return v as HistoryView
}

/** One JSON line per event (events of one aggregate, in version order). */
export function eventLines(
  decider: AnyDecider,
  events: readonly EventEnvelope[],
  o: EventOutputOptions,
): string[] {
  const shown = o.raw ? events : eventsForReading(decider, events, historyView(o))
  return shown.map((e) => JSON.stringify(e))
}
