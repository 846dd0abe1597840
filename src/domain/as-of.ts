/**
 * Bi-temporal reads: an aggregate's state as of a business time, as of a recording time, or both.
 * Every event has two times: `eventTime` (business time: when it happened, the command's issuedAt or what the
 * command supplied) and `recordedAt` (when the worker decided and wrote it). An event is included when
 *   - recordedAt <= recordedAsOf ("what did we believe then": later events and later corrections left out), and
 *   - its effective business time <= eventTimeAsOf ("what was true then", as we know it now).
 * A correction event (`corrects: eventId | eventId[]`) takes effect at the business time of the earliest event it
 * corrects, so a correction recorded in April of a deposit made in February changes the February balance as
 * known today, and not the February balance as believed in March. Included events fold in version order (the
 * order decide produced them), from the decider's initial state.
 */
import { fold, type AnyDecider } from './decider.ts'
import type { EventEnvelope } from './envelopes.ts'

export interface AsOf {
  /** Business time bound (ISO-8601 or epoch ms). */
  eventTimeAsOf?: string | number | Date
  /** Recording time bound (ISO-8601 or epoch ms). */
  recordedAsOf?: string | number | Date
}

export interface StateAsOf<S = unknown> {
  state: S
  /** Version of the last included event (0: none). */
  version: number
  /** Events included / events of the aggregate. */
  included: number
  total: number
  asOf: { eventTimeAsOf?: string; recordedAsOf?: string }
}

/**
 * Milliseconds since the epoch of an AsOf bound (a Date, epoch ms as a number, ISO-8601 text, or epoch ms as decimal
 * text as a query string or a CLI flag gives it: text Date.parse does not read, e.g. "1772323200000"; "2026" stays
 * the year); undefined when absent; throws a RangeError when invalid.
 */
export function asOfMillis(name: string, v: string | number | Date | undefined): number | undefined {
  if (v === undefined || v === '') return undefined
  let ms = v instanceof Date ? v.getTime() : typeof v === 'number' ? v : Date.parse(v)
  if (typeof v === 'string' && Number.isNaN(ms) && /^-?\d{1,16}$/.test(v.trim())) ms = Number(v.trim())
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15)
    throw new RangeError(`${name} must be an ISO-8601 time (e.g. 2026-03-01T00:00:00Z) or epoch milliseconds`)
  return ms
}

function correctedIds(e: EventEnvelope): string[] {
  const c = (e as { corrects?: unknown }).corrects
  if (typeof c === 'string') return [c]
  return Array.isArray(c) ? c.filter((x): x is string => typeof x === 'string') : []
}

/** The business time an event takes effect at (a correction: that of the earliest event it corrects). */
export function effectiveEventTimes(events: readonly EventEnvelope[]): Map<string, number> {
  const own = new Map(events.map((e) => [e.eventId, Date.parse(e.eventTime)]))
  const effective = new Map<string, number>()
  for (const e of events) {
    const corrected = correctedIds(e)
      .map((id) => effective.get(id) ?? own.get(id))
      .filter((t): t is number => t !== undefined && Number.isFinite(t))
    effective.set(e.eventId, corrected.length > 0 ? Math.min(...corrected) : (own.get(e.eventId) ?? NaN))
  }
  return effective
}

/** Folds the events (one aggregate's, version order, already upcast) that the bounds include. */
export function stateAsOf<S>(
  decider: AnyDecider,
  events: readonly EventEnvelope[],
  asOf: AsOf,
): StateAsOf<S> {
  const eventBound = asOfMillis('eventTimeAsOf', asOf.eventTimeAsOf)
  const recordedBound = asOfMillis('recordedAsOf', asOf.recordedAsOf)
  const effective = effectiveEventTimes(events)
  const included = events.filter(
    (e) =>
      (recordedBound === undefined || Date.parse(e.recordedAt) <= recordedBound) &&
      (eventBound === undefined || (effective.get(e.eventId) ?? NaN) <= eventBound),
  )
  return {
    state: fold(decider, included) as S,
    version: included.at(-1)?.version ?? 0,
    included: included.length,
    total: events.length,
    asOf: {
      ...(eventBound === undefined ? {} : { eventTimeAsOf: new Date(eventBound).toISOString() }),
      ...(recordedBound === undefined ? {} : { recordedAsOf: new Date(recordedBound).toISOString() }),
    },
  }
}
