/** Runs a decider the way the worker does (fold the history, then decide), without Kafka. */
import {
  fold,
  isRejection,
  type AnyDecider,
  type CommandOf,
  type DecideContext,
  type EventOf,
  type StateOf,
} from '../domain/decider.ts'

export type Decision<D> = { events: EventOf<D>[] } | { rejected: string; message: string }

export interface DecideResult<D> {
  /** The state the history folds to, before the command. */
  state: StateOf<D>
  decision: Decision<D>
}

/** given `history`, when `command`: the events decide returns (always an array) or its rejection. */
export function decideAfter<D extends AnyDecider>(
  decider: D,
  history: EventOf<D>[],
  command: CommandOf<D>,
  ctx: Partial<DecideContext> = {},
): DecideResult<D> {
  const state = fold(decider, history) as StateOf<D>
  const d = decider.decide(command, state, {
    aggregateId: 'aggregate-1',
    commandId: 'command-1',
    version: history.length,
    issuedAt: '2024-01-01T00:00:00.000Z',
    metadata: {},
    ...ctx,
  })
  const decision: Decision<D> = isRejection(d)
    ? { rejected: d.code, message: d.message }
    : { events: (Array.isArray(d) ? d : [d]) as EventOf<D>[] }
  return { state, decision }
}
