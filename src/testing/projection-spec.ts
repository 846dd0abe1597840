/**
 * Given/then specs for projections (read models), on top of projectAll (the definition of what the runtime's
 * views must equal):
 *
 *   givenEvents(dailyTotals, [created, deposited(100)]).thenView('2024-01-01', { ... }).thenNoView('2024-01-02')
 *
 * Events are `{ type, payload }` as the decider returns them, with any envelope field the spec cares about
 * (aggregateId, version, eventTime, recordedAt, eventId, ...); the others get defaults so specs stay short:
 *   aggregateId ... 'aggregate-1'
 *   version ....... counting per aggregate from 1 (after an explicit version, on from it)
 *   eventTime ..... 2024-01-01T00:00:00.000Z + i seconds (i: the event's index in the list); recordedAt the same
 *   eventId ....... `${aggregateId}@${version}`; commandId/correlationId/causationId `command-${i + 1}`
 *   schemaVersion . the decider's current one for the type (option `decider`), else 1
 * With the option `decider`, an event given with a `schemaVersion` is one an older decider stored: it is upcast
 * first (upcastEvent), as the router does for a source that names its topology.
 *
 * The spec hands project frozen views and events, so a projector that changes its input fails the spec (in a worker
 * it would change the task's cached view), and, like the runtime, refuses views that are not plain data. Each
 * `then*` throws a SpecFailedError whose message shows the given events, the key, what was expected and the actual
 * view (and where they differ).
 */
import { inspect, isDeepStrictEqual } from 'node:util'
import { eventVersionOf, type AnyDecider } from '../domain/decider.ts'
import type { EventEnvelope } from '../domain/envelopes.ts'
import { plainDataProblem } from '../domain/plain-data.ts'
import { projectAll, type Projection, type ProjectedEvent } from '../domain/projection.ts'
import { upcastEvent } from '../domain/upcasting.ts'
import { SpecFailedError, ViewKeyError } from '../errors.ts'

/** The business time of the first given event when it names none (the next one is a second later, and so on). */
export const GIVEN_BASE_TIME = '2024-01-01T00:00:00.000Z'

type Message = { type: string; payload: unknown }

/** Envelope fields a given event may set; the ones it leaves out get the defaults above. */
export type EnvelopeFields = Partial<Omit<EventEnvelope, 'type' | 'payload'>>

/** An event as a decider returns it (typed by the projection's event type), with optional envelope fields. */
export type GivenEvent<E extends Message> = E & EnvelopeFields

/** An event as an older decider stored it: upcast by the `decider` option before the projector sees it. */
export interface GivenStoredEvent<E extends Message> extends EnvelopeFields {
  type: E['type']
  payload: unknown
  schemaVersion: number
}

export interface ProjectionSpecOptions {
  /**
   * The decider of the source topology: events are upcast to its current schema versions first (an event given
   * with an older `schemaVersion`), and events given without one get its current version.
   */
  decider?: AnyDecider
}

export interface ProjectionThenStep<V> {
  /** The views the given events fold to, by view key (projectAll's result). */
  readonly views: ReadonlyMap<string, V>
  /** The events as the projector saw them: envelopes with the defaults filled in, upcast. */
  readonly events: readonly ProjectedEvent[]
  /** The view of `key` equals `expected` (compared as plain data). Returns this step, to chain. */
  thenView(key: string, expected: V): ProjectionThenStep<V>
  /** There is no view of `key` (never written, left undefined, or deleted with null). */
  thenNoView(key: string): ProjectionThenStep<V>
  /** The views are exactly these (every key, no other). */
  thenViews(expected: Readonly<Record<string, V>>): ProjectionThenStep<V>
}

const show = (v: unknown) => inspect(v, { depth: 10, breakLength: 100, sorted: true })
// Compare as plain data (as views are stored): drops undefined fields and prototypes.
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? null))

/** given `events` (oldest first, in the order the projector sees them) ... */
export function givenEvents<E extends Message, V>(
  projection: Projection<E, V>,
  events: readonly NoInfer<GivenEvent<E>>[],
): ProjectionThenStep<V>
/** ... with the source's decider: events may be given as stored by an older decider (`schemaVersion`), upcast first. */
export function givenEvents<E extends Message, V>(
  projection: Projection<E, V>,
  events: readonly NoInfer<GivenEvent<E> | GivenStoredEvent<E>>[],
  options: ProjectionSpecOptions,
): ProjectionThenStep<V>
export function givenEvents<E extends Message, V>(
  projection: Projection<E, V>,
  events: readonly (GivenEvent<E> | GivenStoredEvent<E>)[],
  options: ProjectionSpecOptions = {},
): ProjectionThenStep<V> {
  const header = `given events ${show(events)}\n`
  let result: { views: Map<string, V>; events: ProjectedEvent[] } | undefined
  const run = () => (result ??= project(projection, events, options, header))
  const fail = (what: string, expected: string, actual: string, paths: string[] = []): never => {
    const where = paths.length === 0 ? '' : `\ndiffers at: ${paths.join(', ')}`
    throw new SpecFailedError(`${header}${what}\nexpected: ${expected}\nactual:   ${actual}${where}`)
  }
  const describeView = (key: string) => {
    const views = run().views
    return views.has(key) ? show(views.get(key)) : `no view (views: ${show([...views.keys()])})`
  }
  const step: ProjectionThenStep<V> = {
    get views() {
      return run().views
    },
    get events() {
      return run().events
    },
    thenView(key, expected) {
      const views = run().views
      if (!views.has(key)) fail(`then view ${show(key)}`, show(expected), describeView(key))
      const [want, got] = [plain(expected), plain(views.get(key))]
      if (!isDeepStrictEqual(got, want))
        fail(`then view ${show(key)}`, show(expected), describeView(key), differences(want, got))
      return step
    },
    thenNoView(key) {
      if (run().views.has(key)) fail(`then view ${show(key)}`, 'no view', describeView(key))
      return step
    },
    thenViews(expected) {
      const views = run().views
      const actual = Object.fromEntries(views)
      const [want, got] = [plain(expected), plain(actual)]
      if (!isDeepStrictEqual(got, want))
        fail('then views', show(expected), show(actual), differences(want, got))
      return step
    },
  }
  return step
}

function project<V>(
  projection: Projection<any, V>,
  given: readonly (Message & EnvelopeFields)[],
  options: ProjectionSpecOptions,
  header: string,
): { views: Map<string, V>; events: ProjectedEvent[] } {
  const events = envelopes(given, options.decider, header)
  const index = new Map<ProjectedEvent, number>(events.map((e, i) => [e, i]))
  let current: ProjectedEvent | undefined
  let phase = 'key()'
  const at = () =>
    current === undefined ? '' : `event [${index.get(current)}] ${show(given[index.get(current)!])}: `
  const checked = (view: V | null | undefined, what: string): V | null | undefined => {
    if (view === undefined || view === null) return view
    const problem = plainDataProblem(view, 'view')
    if (problem !== undefined)
      throw new SpecFailedError(`${header}${at()}${what} returned a view that is not plain data: ${problem}`)
    return deepFreeze(view)
  }
  const guarded: Projection<any, V> = {
    ...projection,
    key: (e) => {
      current = e
      phase = 'key()'
      return projection.key(e)
    },
    ...(projection.initialState
      ? {
          initialState: () => {
            phase = 'initialState()'
            return checked(projection.initialState!(), phase) as V
          },
        }
      : {}),
    project: (view, e, key) => {
      phase = `project() of view ${show(key)}`
      return checked(projection.project(view, e, key), phase)
    },
  }
  try {
    return { views: projectAll(guarded, events), events }
  } catch (e) {
    if (e instanceof SpecFailedError) throw e
    // A key() that returned no usable key (empty, reserved, too long, not a string): the runtime dead-letters it.
    if (e instanceof ViewKeyError) throw new SpecFailedError(`${header}${at()}${e.message}`, { cause: e })
    throw new SpecFailedError(`${header}${at()}${phase} threw: ${describe(e)}`, { cause: e })
  }
}

/** The given events as the projector sees them: every envelope field set, upcast, frozen (copies: the spec's own objects stay as they are). */
function envelopes(
  given: readonly (Message & EnvelopeFields)[],
  decider: AnyDecider | undefined,
  header: string,
): ProjectedEvent[] {
  const base = Date.parse(GIVEN_BASE_TIME)
  const versions = new Map<string, number>()
  return given.map((g, i) => {
    const aggregateId = g.aggregateId ?? 'aggregate-1'
    const version = g.version ?? (versions.get(aggregateId) ?? 0) + 1
    versions.set(aggregateId, version)
    const time = new Date(base + i * 1000).toISOString()
    const commandId = `command-${i + 1}`
    const envelope = structuredClone({
      eventId: `${aggregateId}@${version}`,
      commandId,
      correlationId: commandId,
      causationId: commandId,
      eventTime: time,
      recordedAt: time,
      schemaVersion: decider === undefined ? 1 : eventVersionOf(decider, g.type),
      ...g,
      aggregateId,
      version,
    }) as EventEnvelope
    let event: EventEnvelope
    try {
      event = decider === undefined ? envelope : upcastEvent(decider, envelope)
    } catch (e) {
      throw new SpecFailedError(`${header}event [${i}] ${show(g)}: ${describe(e)}`, { cause: e })
    }
    return deepFreeze(event) as ProjectedEvent
  })
}

/** Where two plain values differ (at most 5 paths, `.a.b[2]`; '(the view)' for a different root). */
function differences(a: unknown, b: unknown, at = '', out: string[] = []): string[] {
  if (out.length >= 5 || isDeepStrictEqual(a, b)) return out
  const bothArrays = Array.isArray(a) && Array.isArray(b)
  const bothObjects =
    typeof a === 'object' &&
    a !== null &&
    typeof b === 'object' &&
    b !== null &&
    !Array.isArray(a) &&
    !Array.isArray(b)
  if (bothArrays) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) differences(a[i], b[i], `${at}[${i}]`, out)
  } else if (bothObjects) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()
    for (const k of keys) {
      const path = /^[A-Za-z_$][\w$]*$/.test(k) ? `${at}.${k}` : `${at}[${JSON.stringify(k)}]`
      differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path, out)
    }
  } else out.push(at === '' ? '(the view)' : at)
  return out
}

function describe(e: unknown): string {
  const text = (e as Error)?.stack ?? String(e)
  return e instanceof TypeError && /read[- ]only|not extensible|Cannot (add|delete|assign)/i.test(e.message)
    ? `${text}\n(views and events are frozen: return a new view instead of changing the one project receives)`
    : text
}

function deepFreeze<T>(v: T): T {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return v
  Object.freeze(v)
  for (const x of Object.values(v)) deepFreeze(x)
  return v
}
