/**
 * What the processor needs to fail one command instead of the batch: the decider's code called so that what it
 * throws (an Error or anything else) becomes a classified error of the command, a message that can always be built
 * from whatever was thrown, the command's time checked, and the mapping of an error to the reply and dead letter.
 */
import { checkCorrection, correctionLinkOf } from '../domain/corrections.ts'
import { isRejection, type AnyDecider, type DecideContext } from '../domain/decider.ts'
import type { CommandEnvelope } from '../domain/envelopes.ts'
import {
  DecideThrewError,
  InitialStateThrewError,
  InvalidDecisionError,
  InvalidTimestampError,
  KafkaDeciderError,
} from '../errors.ts'
import { truncate, type DeadLetterReason } from './command-decoder.ts'
import type { InputRecord } from './ports.ts'
import { describeThrown, safeString } from './text.ts'

/** A rejection code and message are capped (UTF-16 units) before they are stored in snapshots and replies. */
export const MAX_REJECTION_CODE = 200
export const MAX_REJECTION_MESSAGE = 1000

/** The decider's initialState(), its throw wrapped. */
export function initialStateOf(decider: AnyDecider): unknown {
  try {
    return decider.initialState()
  } catch (e) {
    throw new InitialStateThrewError(`initialState() threw: ${truncate(describeThrown(e), 500)}`, {
      cause: e,
    })
  }
}

/** An event decide returned; a correction (correction()) carries its checked link. */
export interface DecidedEvent {
  type: string
  payload: unknown
  correction?: { corrects: string[]; correctionReason: string }
}

export interface Decision {
  events: DecidedEvent[]
  rejection: { code: string; message: string } | undefined
  state: unknown
}

/** decide, then evolve over its events; a throw of either becomes DecideThrewError (InvalidDecisionError stays). */
export function decideAndEvolve(
  decider: AnyDecider,
  command: { type: string; payload: unknown },
  state: unknown,
  ctx: DecideContext,
): Decision {
  try {
    const decision: unknown = decider.decide(command as never, state, ctx)
    if (isRejection(decision)) {
      const { code, message } = decision
      if (typeof code !== 'string' || typeof message !== 'string')
        throw new InvalidDecisionError(
          'decide returned reject(code, message) with a code or message that is not a string',
        )
      return {
        events: [],
        rejection: {
          code: truncate(code, MAX_REJECTION_CODE),
          message: truncate(message, MAX_REJECTION_MESSAGE),
        },
        state,
      }
    }
    const events = (Array.isArray(decision) ? decision : [decision]) as { type: string; payload: unknown }[]
    let next = state
    const out: DecidedEvent[] = []
    for (const e of events) {
      const type: unknown = typeof e === 'object' && e !== null ? e.type : undefined
      if (typeof type !== 'string' || !Object.hasOwn(decider.events, type)) {
        throw new InvalidDecisionError(
          `decide returned an event of unknown type "${truncate(safeString(type), 100)}"; declare it in events`,
        )
      }
      // Read once: the envelope gets exactly what evolve saw.
      const event = { type, payload: e.payload }
      const link = correctionLinkOf(e)
      const checked = link === undefined ? undefined : checkCorrection(link, ctx.aggregateId, ctx.version)
      if (checked !== undefined && 'problem' in checked) throw new InvalidDecisionError(checked.problem)
      next = decider.evolve(next, event as never)
      out.push(checked === undefined ? event : { ...event, correction: checked })
    }
    return { events: out, rejection: undefined, state: next }
  } catch (e) {
    if (e instanceof InvalidDecisionError) throw e
    throw new DecideThrewError(`decide/evolve threw: ${truncate(describeThrown(e), 500)}`, { cause: e })
  }
}

/** ISO-8601 time of the command: metadata.issuedAt, else the record timestamp; either must be a time a Date holds. */
export function issuedAtOf(envelope: CommandEnvelope, record: InputRecord): string {
  const issued = envelope.metadata?.issuedAt
  if (issued !== undefined) {
    const d = new Date(issued)
    if (Number.isNaN(d.getTime())) {
      throw new InvalidTimestampError(
        `metadata.issuedAt ${truncate(JSON.stringify(issued), 64)} is not a time (an ISO-8601 string, or epoch milliseconds within ±8.64e15)`,
      )
    }
    return d.toISOString()
  }
  const ms = Number(record.timestamp)
  // Commands of a batch often share their millisecond: the last one's string is reused.
  if (ms === lastStamp.ms) return lastStamp.iso
  const d = new Date(ms)
  if (Number.isNaN(d.getTime())) {
    throw new InvalidTimestampError(
      `the record timestamp ${truncate(record.timestamp, 32)} is not a time a Date can hold (epoch milliseconds within ±8.64e15); send metadata.issuedAt or fix the producer's timestamp`,
    )
  }
  lastStamp.ms = ms
  lastStamp.iso = d.toISOString()
  return lastStamp.iso
}

const lastStamp = { ms: NaN, iso: '' }

/** ISO-8601 of epoch milliseconds `ms` (a valid time), the last result reused for the same millisecond. */
export function isoOf(ms: number): string {
  if (ms !== lastIso.ms) {
    lastIso.ms = ms
    lastIso.iso = new Date(ms).toISOString()
  }
  return lastIso.iso
}

const lastIso = { ms: NaN, iso: '' }

/** What a command that threw `e` gets: its reply status, the dead letter's reason, the message of both. */
export function failureOf(e: unknown): {
  status: 'failed' | 'invalid'
  reason: DeadLetterReason
  message: string
} {
  if (e instanceof KafkaDeciderError && e.recovery === 'command') {
    return {
      status: e instanceof InvalidTimestampError ? 'invalid' : 'failed',
      reason: e.code as DeadLetterReason,
      message: e.message,
    }
  }
  // Not foreseen: a bug (ours or a library's). The command fails alone rather than the partition for ever.
  return {
    status: 'failed',
    reason: 'processing_failed',
    message: `processing the command failed: ${truncate(describeThrown(e), 500)}`,
  }
}
