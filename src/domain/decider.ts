/**
 * The decider: what a user writes. Pure functions over plain data, no I/O, no clock, no randomness
 * (time and ids arrive in the context). See README "Writing a decider".
 */
import type { z } from 'zod'

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
  /** Written into every event envelope; bump it when an event payload changes shape. Default 1. */
  schemaVersion?: number
}

export interface Decider<
  S = unknown,
  CM extends SchemaMap = SchemaMap,
  EM extends SchemaMap = SchemaMap,
> extends DeciderDefinition<S, CM, EM> {
  readonly kind: 'kafka-decider/decider'
  readonly schemaVersion: number
}

export type AnyDecider = Decider<any, any, any>
export type StateOf<D> = D extends Decider<infer S, any, any> ? S : never
export type CommandOf<D> = D extends Decider<any, infer CM, any> ? MessageOf<CM> : never
export type EventOf<D> = D extends Decider<any, any, infer EM> ? MessageOf<EM> : never

export function defineDecider<S, CM extends SchemaMap, EM extends SchemaMap>(
  definition: DeciderDefinition<S, CM, EM>,
): Decider<S, CM, EM> {
  return { ...definition, kind: 'kafka-decider/decider', schemaVersion: definition.schemaVersion ?? 1 }
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
  return problems
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
