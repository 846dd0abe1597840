/** Runs a decider the way the worker does (fold the history, then decide), without Kafka. */
import { checkCorrection, correctionLinkOf } from '../domain/corrections.ts'
import {
  fold,
  isRejection,
  type AnyDecider,
  type CommandOf,
  type DecideContext,
  type EventOf,
  type StateOf,
} from '../domain/decider.ts'
import type { EventEnvelope } from '../domain/envelopes.ts'
import { upcastEvent } from '../domain/upcasting.ts'
import { InvalidDecisionError } from '../errors.ts'

export type Decision<D> = { events: EventOf<D>[] } | { rejected: string; message: string }

/**
 * An event of the history as it was stored by an older decider version: its `schemaVersion` says which, and it is
 * upcast before evolve sees it (events without schemaVersion are at the current version).
 */
export interface StoredEvent<D> {
  type: EventOf<D>['type']
  payload: unknown
  schemaVersion: number
}

/** The history at the current schema versions: events with a schemaVersion upcast (as the worker reads them). */
export function upcastHistory<D extends AnyDecider>(
  decider: D,
  history: readonly (EventOf<D> | StoredEvent<D>)[],
  aggregateId: string,
): EventOf<D>[] {
  return history.map((e, i) => {
    if (!('schemaVersion' in e) || typeof e.schemaVersion !== 'number') return e as EventOf<D>
    const version = i + 1
    const envelope: EventEnvelope = {
      eventId: `${aggregateId}@${version}`,
      type: e.type,
      aggregateId,
      version,
      payload: e.payload,
      commandId: 'given',
      correlationId: 'given',
      causationId: 'given',
      eventTime: '2024-01-01T00:00:00.000Z',
      recordedAt: '2024-01-01T00:00:00.000Z',
      schemaVersion: e.schemaVersion,
    }
    const up = upcastEvent(decider, envelope)
    return { type: up.type, payload: up.payload } as EventOf<D>
  })
}

export interface DecideResult<D> {
  /** The state the history folds to, before the command. */
  state: StateOf<D>
  decision: Decision<D>
}

/** given `history`, when `command`: the events decide returns (always an array) or its rejection. */
export function decideAfter<D extends AnyDecider>(
  decider: D,
  history: (EventOf<D> | StoredEvent<D>)[],
  command: CommandOf<D>,
  ctx: Partial<DecideContext> = {},
): DecideResult<D> {
  const full: DecideContext = {
    aggregateId: 'aggregate-1',
    commandId: 'command-1',
    version: history.length,
    issuedAt: '2024-01-01T00:00:00.000Z',
    metadata: {},
    ...ctx,
  }
  const state = fold(decider, upcastHistory(decider, history, full.aggregateId)) as StateOf<D>
  const d = decider.decide(command, state, full)
  const decision: Decision<D> = isRejection(d)
    ? { rejected: d.code, message: d.message }
    : { events: (Array.isArray(d) ? d : [d]) as EventOf<D>[] }
  // A correction's link is checked as the worker checks it (an earlier event of this aggregate, a reason).
  for (const e of 'events' in decision ? decision.events : []) {
    const link = correctionLinkOf(e)
    const checked = link && checkCorrection(link, full.aggregateId, full.version)
    if (checked !== undefined && 'problem' in checked) throw new InvalidDecisionError(checked.problem)
  }
  return { state, decision }
}
