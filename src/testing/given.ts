/**
 * Given/when/then specs for deciders, on top of decideAfter (fold the history, then decide):
 *
 *   given(bank, [created]).when({ type: 'Withdraw', payload: { amount: 5 } }).thenRejected('insufficient_funds')
 *
 * Each `then*` throws an Error whose message shows the given events, the command, what was expected and
 * what decide actually returned, so it reads well in vitest (or any runner) without a matcher library.
 */
import { isDeepStrictEqual, inspect } from 'node:util'
import { correctionLinkOf } from '../domain/corrections.ts'
import { fold, type DecideContext, type Decider, type MessageOf, type SchemaMap } from '../domain/decider.ts'
import { SpecFailedError } from '../errors.ts'
import { decideAfter, upcastHistory, type Decision, type StoredEvent } from './decide.ts'

export { SpecFailedError }

export interface ThenStep<S, EM extends SchemaMap> {
  /** The state the given events fold to (before the command). */
  readonly state: S
  /** What decide returned: the events (always an array) or the rejection. */
  readonly decision: { events: MessageOf<EM>[] } | { rejected: string; message: string }
  /** decide returned exactly these events, in this order. Returns the state after them. */
  then(expected: MessageOf<EM>[] | MessageOf<EM>): S
  /** decide rejected the command with this code (and, when given, a message matching `message`). */
  thenRejected(code: string, message?: string | RegExp): void
  /** decide accepted the command and returned no events. */
  thenNothing(): void
}

export interface WhenStep<S, CM extends SchemaMap, EM extends SchemaMap> {
  readonly state: S
  when(command: MessageOf<CM>, ctx?: Partial<DecideContext>): ThenStep<S, EM>
}

const show = (v: unknown) => inspect(v, { depth: 10, breakLength: 100, sorted: true })

/**
 * given `events` (the aggregate's history, oldest first; an event with a `schemaVersion` is one an older decider
 * stored, upcast first) ...
 */
export function given<S, CM extends SchemaMap, EM extends SchemaMap>(
  decider: Decider<S, CM, EM>,
  events: (MessageOf<EM> | StoredEvent<Decider<S, CM, EM>>)[] = [],
): WhenStep<S, CM, EM> {
  const d = decider as unknown as Parameters<typeof decideAfter>[0]
  return {
    get state() {
      return fold(decider, upcastHistory(d, events as never, 'aggregate-1'))
    },
    when(command, ctx = {}) {
      let result: ReturnType<typeof decideAfter>
      const header = () => `given ${show(events)}\nwhen ${show(command)}\n`
      try {
        result = decideAfter(d, events as never, command as never, ctx)
      } catch (e) {
        throw new SpecFailedError(`${header()}decide or evolve threw: ${(e as Error)?.stack ?? String(e)}`, {
          cause: e,
        })
      }
      const decision = result.decision as Decision<Decider<S, CM, EM>>
      const actual = () =>
        'rejected' in decision
          ? `rejected ${show(decision.rejected)} (${decision.message})`
          : `events ${show(decision.events)}`
      const fail = (expected: string): never => {
        throw new SpecFailedError(`${header()}expected: ${expected}\nactual:   ${actual()}`)
      }
      return {
        state: result.state as S,
        decision: decision as ThenStep<S, EM>['decision'],
        then(expected) {
          const list = Array.isArray(expected) ? expected : [expected]
          if ('rejected' in decision || !isDeepStrictEqual(comparable(decision.events), comparable(list)))
            fail(`events ${show(list)}`)
          let s = result.state as S
          for (const e of list) s = decider.evolve(s, e)
          return s
        },
        thenRejected(code, message) {
          if (!('rejected' in decision) || decision.rejected !== code) fail(`rejected ${show(code)}`)
          if (message !== undefined && 'rejected' in decision) {
            const ok =
              typeof message === 'string' ? decision.message === message : message.test(decision.message)
            if (!ok) fail(`rejected ${show(code)} with message ${show(message)}`)
          }
        },
        thenNothing() {
          if ('rejected' in decision || decision.events.length > 0)
            fail('no events (accepted, nothing to record)')
        },
      }
    },
  }
}

// Compare as plain data (as the events will be on the wire): drops undefined fields and prototypes.
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? null))

/** Events as plain data with their correction link (a symbol, which plain() would drop) as a field. */
function comparable(events: readonly unknown[]): unknown {
  return plain(
    events.map((e) => {
      const link = correctionLinkOf(e)
      const corrects = typeof link?.corrects === 'string' ? [link.corrects] : link?.corrects
      return link === undefined ? e : { ...(e as object), correction: { corrects, reason: link.reason } }
    }),
  )
}
