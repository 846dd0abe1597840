/**
 * What a read of stored events shows (the `decider events` CLI, the HTTP read API, the client): each event at its
 * type's current schema version (upcasting.ts), linked to its corrections (corrections.ts).
 */
import type { AnyDecider } from './decider.ts'
import { correctedHistory, type RecordedEvent } from './corrections.ts'
import type { EventEnvelope } from './envelopes.ts'
import { upcastEvents } from './upcasting.ts'

/** `recorded`: every event, the corrected ones marked `correctedBy`; `corrected`: without the corrected ones. */
export type HistoryView = 'recorded' | 'corrected'

export const HISTORY_VIEWS: readonly HistoryView[] = ['recorded', 'corrected']

/**
 * Events of one aggregate as stored (version order) -> as read: upcast, then the history `view`. Throws
 * EventVersionUnknownError / UpcastFailedError for an event the decider cannot read.
 */
export function eventsForReading<E extends EventEnvelope>(
  decider: AnyDecider,
  events: readonly E[],
  view: HistoryView = 'recorded',
): RecordedEvent<E>[] {
  const history = correctedHistory(upcastEvents(decider, events))
  return view === 'corrected' ? history.asCorrected : history.asRecorded
}
