/**
 * Event versioning: stored events are read at the shape the running decider expects. Every event carries the
 * schemaVersion of its type's payload when it was written; the decider's `upcasters` say how to go from each old
 * version to the next (README "Event versioning"). The topic keeps events as recorded; upcasting happens when they
 * are read (restore from events, rebuild, reads, the test driver), so a fixed upcaster fixes every later read.
 *
 *   stored schemaVersion == current ... the envelope as it is (no copy)
 *   stored < current .................. each step from the stored version to the current one, then the payload
 *                                       is checked with the type's current schema
 *   stored > current .................. EventVersionUnknownError: newer code wrote it
 *   a step throws / bad result ........ UpcastFailedError
 *
 * Also the stateVersion rule for snapshots: trusted only when written under the running decider's stateVersion.
 */
import { EventVersionUnknownError, StaleSnapshotError, UpcastFailedError } from '../errors.ts'
import { eventVersionOf, stateVersionOf, type AnyDecider, type Upcaster } from './decider.ts'
import type { EventEnvelope, SnapshotRecord } from './envelopes.ts'

/** The schemaVersion a stored event has (events written before the field existed: 1). */
export function storedSchemaVersion(e: Pick<EventEnvelope, 'schemaVersion'>): number {
  const v = (e as { schemaVersion?: unknown }).schemaVersion
  return typeof v === 'number' ? v : 1
}

/**
 * The event at its type's current schema version: the same envelope when it already is, else a copy with the
 * upcasted payload and `schemaVersion` set to the current one. Throws EventVersionUnknownError or UpcastFailedError.
 */
export function upcastEvent<E extends EventEnvelope>(decider: AnyDecider, event: E): E {
  const current = eventVersionOf(decider, event.type)
  const stored = storedSchemaVersion(event)
  if (stored === current) return event
  const where = describeEvent(event, stored)
  if (!Number.isSafeInteger(stored) || stored < 1)
    throw new UpcastFailedError(
      `${where}: schemaVersion ${String(stored)} is not a version (an integer >= 1); the event was not written by kafka-decider, or was damaged. Fix or skip it where it is read`,
    )
  if (stored > current && !Object.hasOwn(decider.events, event.type))
    throw new EventVersionUnknownError(
      `${where}: this decider does not declare the event type ${event.type}, so it reads only its schemaVersion 1 as stored; declare ${event.type} with upcasters up to version ${stored}, or deploy the decider that wrote it`,
    )
  if (stored > current)
    throw new EventVersionUnknownError(
      `${where}: this decider knows ${event.type} up to schemaVersion ${current} (${current - 1} upcaster(s)); a newer decider wrote it. Deploy that decider (or one with upcasters up to version ${stored}) instead of this older one`,
    )
  const chain = (decider.upcasters as Record<string, readonly Upcaster[]>)[event.type]!
  let payload: unknown = event.payload
  for (let v = stored; v < current; v++) {
    try {
      payload = chain[v - 1]!(payload, event)
    } catch (e) {
      throw new UpcastFailedError(
        `${where}: upcasters.${event.type}[${v - 1}] (v${v} -> v${v + 1}) threw: ${(e as Error)?.message ?? String(e)}. Fix the upcaster: the stored event stays as recorded and is upcast again on every read`,
        { cause: e },
      )
    }
  }
  const schema = (
    decider.events as Record<string, { safeParse?: (v: unknown) => { success: boolean; error?: unknown } }>
  )[event.type]
  const checked = schema?.safeParse?.(payload)
  if (checked !== undefined && !checked.success) {
    throw new UpcastFailedError(
      `${where}: the upcasters made a payload that fails ${event.type}'s current schema (v${current}): ${issues(checked.error)}. Fix the upcasters of ${event.type}: the stored event stays as recorded and is upcast again on every read`,
    )
  }
  return { ...event, payload, schemaVersion: current }
}

/** upcastEvent over a list (in order). */
export function upcastEvents<E extends EventEnvelope>(decider: AnyDecider, events: readonly E[]): E[] {
  return events.map((e) => upcastEvent(decider, e))
}

/** Whether a snapshot may be trusted: written under the running decider's stateVersion (absent = 1). */
export function isSnapshotCurrent(decider: AnyDecider, snapshot: SnapshotRecord): boolean {
  return (snapshot.stateVersion ?? 1) === stateVersionOf(decider)
}

/**
 * A stale snapshot rebuilt from its aggregate's events (as recorded, in version order, 1..n): the state is the fold
 * of the upcasted events; version, dedupe window and source offset stay; stateVersion becomes the running one.
 * The events must end at the snapshot's version (the history it was built from), else StaleSnapshotError.
 */
export function rebuildSnapshot(
  decider: AnyDecider,
  stale: SnapshotRecord,
  events: readonly EventEnvelope[],
): SnapshotRecord {
  const last = events[events.length - 1]?.version ?? 0
  if (last !== stale.version || events.some((e, i) => e.version !== i + 1)) {
    throw new StaleSnapshotError(
      `aggregate ${stale.aggregateId}: its snapshot (version ${stale.version}, stateVersion ${stale.stateVersion ?? 1}) must be rebuilt for stateVersion ${stateVersionOf(decider)}, but its events read ${events.length === 0 ? 'none' : `versions ${events[0]!.version}..${last} (${events.length})`}, not 1..${stale.version}. Stop the workers and run \`decider rebuild <topology>\``,
    )
  }
  let state = decider.initialState()
  for (const e of events) {
    const event = upcastEvent(decider, e)
    try {
      state = decider.evolve(state, event)
    } catch (thrown) {
      throw new StaleSnapshotError(
        `aggregate ${stale.aggregateId}: rebuilding its snapshot for stateVersion ${stateVersionOf(decider)}, evolve threw on ${describeEvent(e, storedSchemaVersion(e))}: ${(thrown as Error)?.message ?? String(thrown)}. Fix evolve (or the upcasters of ${e.type}) and restart`,
        { cause: thrown },
      )
    }
  }
  return { ...stale, state, stateVersion: stateVersionOf(decider) }
}

function describeEvent(e: EventEnvelope, stored: number): string {
  return `stored event ${e.type} of aggregate ${e.aggregateId} at version ${e.version} (eventId ${e.eventId}, schemaVersion ${stored})`
}

function issues(error: unknown): string {
  const list = (error as { issues?: { path?: unknown[]; message?: string }[] })?.issues
  if (!Array.isArray(list)) return String(error)
  return list
    .slice(0, 5)
    .map((i) => `${(i.path ?? []).join('.') || '(payload)'}: ${i.message ?? '?'}`)
    .join('; ')
}
