/**
 * Correction events: an event decide returns through `correction(event, { corrects, reason })` names the earlier
 * event(s) of the aggregate it corrects. It is an event like any other (evolve folds it; the history is never
 * rewritten); its envelope carries `corrects` (eventIds) and `correctionReason`, so a reader can show the history
 * as recorded (every event, the corrected ones marked `correctedBy`) and as corrected (without the events a later
 * one corrects). README "Corrections".
 */
import type { EventEnvelope } from './envelopes.ts'

const CORRECTION = Symbol.for('kafka-decider.correction')

/** Longest correction reason kept (UTF-16 units), and most events one correction may name. */
export const MAX_CORRECTION_REASON = 1000
export const MAX_CORRECTED_EVENTS = 100

export interface CorrectionLink {
  /** The eventIds (`<aggregateId>@<version>`) of the earlier events it corrects. */
  corrects: string | readonly string[]
  /** Why: shown next to the link. */
  reason: string
}

/** The event, marked as the correction of `link.corrects`; return it from decide like any event. */
export function correction<const T extends string, P>(
  event: { type: T; payload: P },
  link: CorrectionLink,
): { type: T; payload: P } {
  const marked: { type: T; payload: P; [CORRECTION]: CorrectionLink } = { ...event, [CORRECTION]: link }
  return marked
}

/** The link correction() put on an event decide returned, if any (unchecked: see checkCorrection). */
export function correctionLinkOf(event: unknown): CorrectionLink | undefined {
  if (typeof event !== 'object' || event === null) return undefined
  return (event as Record<symbol, CorrectionLink | undefined>)[CORRECTION]
}

/**
 * The envelope fields of a correction decided on `aggregateId` at `version` (the aggregate's version before the
 * command), or what is wrong with it: it must name 1..MAX_CORRECTED_EVENTS distinct eventIds of earlier events of
 * this aggregate, with a non-empty reason (cut to MAX_CORRECTION_REASON).
 */
export function checkCorrection(
  link: CorrectionLink,
  aggregateId: string,
  version: number,
): { corrects: string[]; correctionReason: string } | { problem: string } {
  const raw: unknown = typeof link.corrects === 'string' ? [link.corrects] : link.corrects
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_CORRECTED_EVENTS)
    return {
      problem: `correction(): corrects must be an eventId or a list of 1..${MAX_CORRECTED_EVENTS} eventIds`,
    }
  const corrects: string[] = []
  for (const id of raw as unknown[]) {
    const v = typeof id === 'string' ? versionIn(id, aggregateId) : undefined
    if (v === undefined || v < 1 || v > version)
      return {
        problem: `correction(): corrects names ${JSON.stringify(id)?.slice(0, 300)}, which is not an earlier event of aggregate ${aggregateId.slice(0, 200)} (its eventIds are ${aggregateId.slice(0, 200)}@1..${version})`,
      }
    if (!corrects.includes(id as string)) corrects.push(id as string)
  }
  if (typeof link.reason !== 'string' || link.reason.trim() === '')
    return { problem: 'correction(): reason must be a non-empty string' }
  return { corrects, correctionReason: link.reason.slice(0, MAX_CORRECTION_REASON) }
}

/** The version in `<aggregateId>@<version>`, when the eventId is of that aggregate. */
function versionIn(eventId: string, aggregateId: string): number | undefined {
  if (!eventId.startsWith(`${aggregateId}@`)) return undefined
  const tail = eventId.slice(aggregateId.length + 1)
  return /^[1-9]\d{0,15}$/.test(tail) ? Number(tail) : undefined
}

/** One later event's correction of an event. */
export interface CorrectedBy {
  eventId: string
  reason: string
}

export type RecordedEvent<E> = E & { correctedBy?: CorrectedBy[] }

export interface CorrectedHistory<E> {
  /** Every event in the order given; an event a later one corrects carries `correctedBy` (eventIds and reasons). */
  asRecorded: RecordedEvent<E>[]
  /** The events that stand: without those a later event corrects (the corrections themselves are kept). */
  asCorrected: RecordedEvent<E>[]
}

/**
 * The history as recorded and as corrected, for reads (CLI, HTTP): `events` of one aggregate in version order
 * (a range is fine: a correction of an event outside it marks nothing). Events are copied only when marked.
 */
export function correctedHistory<E extends Pick<EventEnvelope, 'eventId' | 'corrects' | 'correctionReason'>>(
  events: readonly E[],
): CorrectedHistory<E> {
  const by = new Map<string, CorrectedBy[]>()
  for (const e of events) {
    if (!Array.isArray(e.corrects)) continue
    for (const id of e.corrects) {
      const list = by.get(id) ?? []
      list.push({ eventId: e.eventId, reason: e.correctionReason ?? '' })
      by.set(id, list)
    }
  }
  const asRecorded = events.map((e): RecordedEvent<E> => {
    const correctedBy = by.get(e.eventId)
    return correctedBy === undefined ? e : { ...e, correctedBy }
  })
  return { asRecorded, asCorrected: asRecorded.filter((e) => e.correctedBy === undefined) }
}
