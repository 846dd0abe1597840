/**
 * How a snapshot's dedupe window (`recent`: the remembered outcomes) is written with msgpack.
 *
 * - `compact` (the default): each outcome is an array `[commandId, status, version, events]`, plus the rejection
 *   when there is one: `[commandId, 1, version, events, { code, message }]`; status 0 is accepted, 1 rejected. About
 *   half the bytes of a map with its keys (~47 against ~94 for a one-event outcome), and the window is most of a
 *   snapshot: 32 outcomes by default, written to the changelog and the store for every command.
 * - `objects`: each outcome a map with its keys, as workers before this encoding wrote them. Older workers cannot
 *   read compact outcomes (they would not recognise a re-sent command), so a rolling upgrade from such a version
 *   runs with `objects` until every worker runs this one (topology `dedupe.outcomes`).
 *
 * Readers take both, also mixed in one window (the outcomes a worker added to a window an older one wrote): every
 * window decoded in the project goes through outcomesOf / withOutcomes. JSON snapshots always hold maps.
 */
import type { RememberedOutcome, SnapshotRecord } from './envelopes.ts'

export type OutcomeEncoding = 'compact' | 'objects'

const ACCEPTED = 0
const REJECTED = 1

/** `o` as the compact encoding writes it. */
export function compactOutcome(o: RememberedOutcome): unknown[] {
  const c: unknown[] = [o.commandId, o.status === 'rejected' ? REJECTED : ACCEPTED, o.version, o.events]
  if (o.error !== undefined) c.push(o.error)
  return c
}

/** An outcome as decoded (either encoding) as a RememberedOutcome. */
export function outcomeOf(v: unknown): RememberedOutcome {
  if (!Array.isArray(v)) return v as RememberedOutcome
  const o: RememberedOutcome = {
    commandId: v[0] as string,
    status: v[1] === REJECTED ? 'rejected' : 'accepted',
    version: v[2] as number,
    events: v[3] as [string, number][],
  }
  if (v.length > 4) o.error = v[4] as { code: string; message: string }
  return o
}

/** A decoded window as RememberedOutcomes, in place (its compact entries replaced). */
export function outcomesOf(recent: unknown[]): RememberedOutcome[] {
  for (let i = 0; i < recent.length; i++) if (Array.isArray(recent[i])) recent[i] = outcomeOf(recent[i])
  return recent as RememberedOutcome[]
}

/** A decoded snapshot with its window's outcomes as RememberedOutcomes (in place). */
export function withOutcomes<S>(s: SnapshotRecord<S>): SnapshotRecord<S> {
  const recent = (s as { recent?: unknown }).recent
  if (Array.isArray(recent)) outcomesOf(recent)
  return s
}
