/**
 * The projector: what a user writes for a read model (README "Read side"). Pure functions over plain data, like
 * the decider: no I/O, no clock, no randomness (what an event carries is all there is).
 *
 *   export default defineProjection<EventOf<typeof bankAccount>, DailyTotals>({
 *     key: (e) => e.eventTime.slice(0, 10),                       // which view(s) an event touches
 *     initialState: () => ({ deposits: 0, withdrawals: 0 }),     // a view that does not exist yet
 *     project: (view, e) => ...,                                  // the view after the event
 *   })
 *
 * Views are keyed documents. `key` may return something other than the aggregate id (a customer, a day): the
 * runtime repartitions events by view key before projecting them (README "Read side"), so one view is only ever
 * written by one task. `key` may return several keys (an event that touches two views) or none (not projected).
 */
import { ConfigError, ViewKeyError } from '../errors.ts'
import type { EventEnvelope } from './envelopes.ts'

/** An event as a projector sees it: the stored envelope (upcast to the source decider's current schema), typed. */
export type ProjectedEvent<
  E extends { type: string; payload: unknown } = { type: string; payload: unknown },
> = E & Omit<EventEnvelope, 'type' | 'payload'>

/** What project returns: the new view; `undefined` leaves the view as it was; `null` deletes it. */
export type ProjectResult<V> = V | undefined | null

export interface ProjectionDefinition<E extends { type: string; payload: unknown }, V> {
  /** The view(s) this event changes: one key, several, or none (undefined / []): the event is not projected. */
  key: (event: ProjectedEvent<E>) => string | readonly string[] | undefined
  /** The view of a key that has none yet (default: project receives undefined). */
  initialState?: () => V
  /** The view after the event. Must not mutate `view` (it is frozen); may throw (a bug: the error policy applies). */
  project: (
    view: NoInfer<V> | undefined,
    event: ProjectedEvent<E>,
    viewKey: string,
  ) => ProjectResult<NoInfer<V>>
  /**
   * Version of the projector's logic (default 1). Bump it when project or the view's shape changes, and run
   * `decider rebuild <projection>` so that every view is projected again from the events.
   */
  version?: number
}

export interface Projection<
  E extends { type: string; payload: unknown } = any,
  V = any,
> extends ProjectionDefinition<E, V> {
  readonly kind: 'kafka-decider/projection'
  readonly version: number
}

export type AnyProjection = Projection<any, any>
export type ViewOf<P> = P extends Projection<any, infer V> ? V : never

export function defineProjection<E extends { type: string; payload: unknown }, V>(
  definition: ProjectionDefinition<E, V>,
): Projection<E, V> {
  const problems = projectionShapeProblems(definition)
  if (problems.length > 0) throw new ConfigError(`defineProjection: ${problems.join('; ')}`)
  return { ...definition, kind: 'kafka-decider/projection', version: definition.version ?? 1 }
}

/** What is wrong with a module's export as a projection ([] when fine). */
export function projectionShapeProblems(value: unknown): string[] {
  if (typeof value !== 'object' || value === null)
    return ['the default export is not an object: export default defineProjection({...})']
  const p = value as Record<string, unknown>
  const problems: string[] = []
  for (const fn of ['key', 'project'])
    if (typeof p[fn] !== 'function') problems.push(`"${fn}" must be a function`)
  if (p.initialState !== undefined && typeof p.initialState !== 'function')
    problems.push('"initialState" must be a function returning the view of a new key')
  const v = p.version
  if (v !== undefined && !(Number.isSafeInteger(v) && (v as number) >= 1))
    problems.push(`"version" must be an integer >= 1, got ${String(v)}`)
  return problems
}

/** Longest view key, in UTF-8 bytes (a view key is a Kafka record key on the repartition and changelog topics). */
export const MAX_VIEW_KEY_BYTES = 512

/** The view keys of an event, checked: strings, non-empty, not in the reserved space, at most MAX_VIEW_KEY_BYTES. */
export function viewKeysOf(projection: AnyProjection, event: ProjectedEvent): string[] {
  const k = projection.key(event)
  if (k === undefined || k === null) return []
  const keys = typeof k === 'string' ? [k] : Array.isArray(k) ? [...new Set(k as string[])] : undefined
  if (keys === undefined)
    throw new ViewKeyError(`key() returned ${typeof k}; return a string, an array of strings or undefined`)
  for (const key of keys) {
    if (typeof key !== 'string')
      throw new ViewKeyError(`key() returned a ${typeof key} among its keys; view keys are strings`)
    if (key.length === 0)
      throw new ViewKeyError('key() returned an empty string; return undefined to skip the event')
    if (key.charCodeAt(0) === 0)
      throw new ViewKeyError('key() returned a key starting with NUL: that space is reserved')
    if (Buffer.byteLength(key, 'utf8') > MAX_VIEW_KEY_BYTES)
      throw new ViewKeyError(
        `key() returned a key of ${Buffer.byteLength(key, 'utf8')} bytes; at most ${MAX_VIEW_KEY_BYTES}`,
      )
  }
  return keys
}

/**
 * Applies one event to one view: project over (the stored view, else initialState()). Returns the next view,
 * `null` for a deleted view, or `undefined` when the view is unchanged.
 */
export function applyToView<V>(
  projection: Projection<any, V>,
  view: V | undefined,
  event: ProjectedEvent,
  viewKey: string,
): V | null | undefined {
  const current = view ?? projection.initialState?.()
  return projection.project(current, event as never, viewKey)
}

/** The views a list of events folds to (the definition the runtime's views must equal; specs and the verifier). */
export function projectAll<V>(
  projection: Projection<any, V>,
  events: Iterable<ProjectedEvent>,
): Map<string, V> {
  const views = new Map<string, V>()
  for (const e of events) {
    for (const key of viewKeysOf(projection, e)) {
      const next = applyToView(projection, views.get(key), e, key)
      if (next === null) views.delete(key)
      else if (next !== undefined) views.set(key, next)
    }
  }
  return views
}
