/**
 * The decider: what a user writes. Pure functions over plain data, no I/O, no clock, no randomness
 * (time and ids arrive in the context). See README "Writing a decider".
 */
import type { z } from 'zod'
import { ConfigError } from '../errors.ts'
import type { EventEnvelope } from './envelopes.ts'

export type SchemaMap = Record<string, z.ZodType>

/** A discriminated union `{ type, payload }` over a map of payload schemas. */
export type MessageOf<M extends SchemaMap> = {
  [K in keyof M & string]: { type: K; payload: z.output<M[K]> }
}[keyof M & string]

export interface DecideContext {
  readonly aggregateId: string
  readonly commandId: string
  /** Version of the aggregate before this command (0 = never had an event). */
  readonly version: number
  /** When the command was issued (metadata.issuedAt, else the record timestamp), ISO-8601. */
  readonly issuedAt: string
  readonly metadata: Readonly<Record<string, unknown>>
}

const REJECTION = Symbol.for('kafka-decider.rejection')

/** A typed business refusal returned by decide: the reply carries `code` and `message`, no events. */
export interface Rejection {
  readonly [REJECTION]: true
  readonly code: string
  readonly message: string
}

export function reject(code: string, message: string): Rejection {
  return { [REJECTION]: true, code, message }
}

export function isRejection(value: unknown): value is Rejection {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[REJECTION] === true
}

export interface DeciderDefinition<S, CM extends SchemaMap, EM extends SchemaMap> {
  /** State of an aggregate that has no events yet. */
  initialState: () => S
  /** Payload schema per command type; commands of other types are answered `invalid`. */
  commands: CM
  /** Payload schema per event type (used by rebuild and by typed consumers). */
  events: EM
  /** Returns the events the command causes (possibly none), or reject(code, message). May throw: a bug. */
  decide: (
    command: MessageOf<CM>,
    state: NoInfer<S>,
    ctx: DecideContext,
  ) => MessageOf<EM>[] | MessageOf<EM> | Rejection
  /** Applies one event to the state; must be total for every event decide can return. */
  evolve: (state: NoInfer<S>, event: MessageOf<EM>) => NoInfer<S>
  /**
   * Per event type, the steps from its old payload shapes to the current one: step i turns a payload of schema
   * version i + 1 into version i + 2, so a type's current version is its number of steps + 1 (1 without any).
   * The last step must return the current schema's payload (checked by the compiler, and at run time with the
   * schema). Applied wherever stored events are read (upcasting.ts); decide always writes the current version.
   */
  upcasters?: { [K in keyof NoInfer<EM> & string]?: UpcasterChain<z.output<NoInfer<EM>[K]>> }
  /**
   * Version of the state's shape and meaning (default 1). Bump it when evolve or the state changes so that stored
   * snapshots are no longer right: a snapshot written under another stateVersion is not trusted, the aggregate is
   * rebuilt from its events instead (README "Event versioning").
   */
  stateVersion?: number
}

/**
 * One upcasting step: the payload of one schema version to the next. `payload` is whatever was stored (annotate
 * it with the old shape); `event` is the stored envelope, for steps that need its time or id.
 */
export type Upcaster<Out = unknown> = (payload: any, event: Readonly<EventEnvelope>) => Out

/** The steps of one event type, oldest first; the last one returns the current payload type. */
export type UpcasterChain<Current> = readonly [...Upcaster[], Upcaster<Current>]

export interface Decider<
  S = unknown,
  CM extends SchemaMap = SchemaMap,
  EM extends SchemaMap = SchemaMap,
> extends DeciderDefinition<S, CM, EM> {
  readonly kind: 'kafka-decider/decider'
  readonly stateVersion: number
}

export type AnyDecider = Decider<any, any, any>
export type StateOf<D> = D extends Decider<infer S, any, any> ? S : never
export type CommandOf<D> = D extends Decider<any, infer CM, any> ? MessageOf<CM> : never
export type EventOf<D> = D extends Decider<any, any, infer EM> ? MessageOf<EM> : never

export function defineDecider<S, CM extends SchemaMap, EM extends SchemaMap>(
  definition: DeciderDefinition<S, CM, EM>,
): Decider<S, CM, EM> {
  const problems = versioningProblems(definition as unknown as Record<string, unknown>)
  if (problems.length > 0) throw new ConfigError(`defineDecider: ${problems.join('; ')}`)
  return { ...definition, kind: 'kafka-decider/decider', stateVersion: definition.stateVersion ?? 1 }
}

/** The schema version decide writes for events of `type` (its upcasting steps + 1). */
export function eventVersionOf(decider: AnyDecider, type: string): number {
  const chain = (decider.upcasters as Record<string, readonly unknown[] | undefined> | undefined)?.[type]
  return (chain?.length ?? 0) + 1
}

/** The state version snapshots are written with (and must carry to be trusted). */
export function stateVersionOf(decider: AnyDecider): number {
  return (decider.stateVersion as number | undefined) ?? 1
}

/** What is wrong with a definition's upcasters and stateVersion ([] when fine). */
function versioningProblems(d: Record<string, unknown>): string[] {
  const problems: string[] = []
  if ('schemaVersion' in d && d.schemaVersion !== undefined)
    problems.push(
      '"schemaVersion" is no longer a decider option: the schema version is per event type, the number of its upcasters + 1; declare "upcasters" (README "Event versioning")',
    )
  const sv = d.stateVersion
  if (sv !== undefined && !(Number.isSafeInteger(sv) && (sv as number) >= 1))
    problems.push(`"stateVersion" must be an integer >= 1, got ${String(sv)}`)
  const ups = d.upcasters
  if (ups === undefined) return problems
  if (typeof ups !== 'object' || ups === null) return [...problems, '"upcasters" must be an object of arrays']
  const events = (typeof d.events === 'object' && d.events !== null ? d.events : {}) as object
  for (const [type, chain] of Object.entries(ups)) {
    if (chain === undefined) continue
    if (!Object.hasOwn(events, type))
      problems.push(`upcasters.${type}: no event type "${type}" is declared in events`)
    else if (!Array.isArray(chain) || chain.some((f) => typeof f !== 'function'))
      problems.push(
        `upcasters.${type} must be an array of functions (v1 -> v2, v2 -> v3, ...), one per old schema version`,
      )
  }
  return problems
}

/** Checks that a module's export has the decider shape; returns what is wrong, or [] when fine. */
export function deciderShapeProblems(value: unknown): string[] {
  if (typeof value !== 'object' || value === null)
    return ['the default export is not an object: export default defineDecider({...})']
  const d = value as Record<string, unknown>
  const problems: string[] = []
  for (const fn of ['initialState', 'decide', 'evolve']) {
    if (typeof d[fn] !== 'function') problems.push(`"${fn}" must be a function`)
  }
  for (const map of ['commands', 'events']) {
    const m = d[map]
    if (typeof m !== 'object' || m === null) {
      problems.push(`"${map}" must be an object of payload schemas`)
      continue
    }
    for (const [type, schema] of Object.entries(m)) {
      if (typeof (schema as { safeParse?: unknown })?.safeParse !== 'function') {
        problems.push(`${map}.${type} must be a schema with safeParse (e.g. zod)`)
      }
    }
  }
  return [...problems, ...versioningProblems(d)]
}

/** Folds events into a state: the definition of "the snapshot equals the fold of the events". */
export function fold<S>(
  decider: Decider<S, any, any>,
  events: Iterable<{ type: string; payload: unknown }>,
  from?: S,
): S {
  let state = from ?? decider.initialState()
  for (const e of events) state = decider.evolve(state, e as never)
  return state
}
