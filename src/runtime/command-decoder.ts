/**
 * Step 1 of processing a command record: bytes -> a typed command, or the reason it is not one. Pure.
 *
 *   no value / bad bytes .... 'undecodable'      envelope shape wrong ... 'invalid_envelope'
 *   no key .................. 'missing_key'      key not UTF-8 / long ... 'invalid_key'
 *   key starts with NUL ..... 'reserved_key'     key hashes elsewhere ... 'misrouted'
 *   type not declared ....... 'unknown_type'     payload fails schema ... 'invalid_payload'
 *   schema throws ........... 'schema_threw'
 *
 * The envelope is read before the key is judged, so a bad key still gets an `invalid` reply (it needs the commandId).
 */
import type { AnyDecider } from '../domain/decider.ts'
import { decode } from '../domain/codec.ts'
import {
  checkAggregateKey,
  commandEnvelopeSchema,
  HEADERS,
  type CommandEnvelope,
} from '../domain/envelopes.ts'
import { describeThrown } from './text.ts'
import type { HeaderValue, InputRecord } from './ports.ts'

export type DeadLetterReason =
  | 'undecodable'
  | 'missing_key'
  | 'invalid_key'
  | 'reserved_key'
  | 'misrouted'
  | 'invalid_envelope'
  | 'unknown_type'
  | 'invalid_payload'
  | 'decide_threw'
  | 'invalid_decision'
  | 'record_too_large'
  // Hardening: what used to escape the guarded call (src/runtime/command-guard.ts, processor.ts)
  | 'schema_threw'
  | 'invalid_timestamp'
  | 'initial_state_threw'
  | 'state_not_plain'
  | 'event_not_plain'
  | 'processing_failed'

export type Decoded =
  | { ok: true; record: InputRecord; aggregateId: string; envelope: CommandEnvelope; payload: unknown }
  | {
      ok: false
      record: InputRecord
      reason: DeadLetterReason
      message: string
      commandId?: string
      /** The key as UTF-8 (lossy when the reason is invalid_key; '' without a key). */
      aggregateId: string
      /** Extra dead-letter headers (misrouted: the expected partition). */
      headers?: Record<string, string>
    }

/**
 * The input partition a key belongs on: what the producers' partitioner (Kafka's default, murmur2) picks for it
 * among the commands topic's partitions.
 */
export type KeyRoute = (key: Buffer) => number

function invalidOf(
  r: InputRecord,
  aggregateId: string,
  reason: DeadLetterReason,
  message: string,
  commandId?: string,
  headers?: Record<string, string>,
): Decoded {
  return {
    ok: false,
    record: r,
    reason,
    message,
    aggregateId,
    ...(commandId !== undefined ? { commandId } : {}),
    ...(headers !== undefined ? { headers } : {}),
  }
}

export function decodeCommand(r: InputRecord, decider: AnyDecider, route: KeyRoute): Decoded {
  const aggregateId = r.key === null ? '' : r.key.toString('utf8')
  if (r.value === null || r.value.length === 0)
    return invalidOf(r, aggregateId, 'undecodable', 'the record has no value (null or empty)')
  let raw: unknown
  try {
    raw = decode(r.value, headerString(r.headers?.[HEADERS.contentType]))
  } catch (e) {
    return invalidOf(
      r,
      aggregateId,
      'undecodable',
      `the value is neither valid msgpack nor JSON (${truncate((e as Error).message, 200)}); send a command envelope`,
    )
  }
  const parsed = commandEnvelopeSchema.safeParse(raw)
  if (!parsed.success) {
    return invalidOf(
      r,
      aggregateId,
      'invalid_envelope',
      `not a command envelope: ${formatIssues(parsed.error.issues)}; expected {commandId, type, payload, expectedVersion?, metadata?}`,
      recoverCommandId(raw),
    )
  }
  const envelope = parsed.data
  const keyProblem = checkAggregateKey(r.key)
  if (keyProblem !== undefined)
    return invalidOf(r, aggregateId, keyProblem.code, keyProblem.message, envelope.commandId)
  const expected = route(r.key!)
  if (expected !== r.partition) {
    return invalidOf(
      r,
      aggregateId,
      'misrouted',
      `the key belongs on partition ${expected} (Kafka's default murmur2 partitioner) but the command came on partition ${r.partition}; ` +
        `its aggregate lives on one partition only: send with a murmur2 partitioner (Java's default, kafkajs' DefaultPartitioner, librdkafka's murmur2_random)`,
      envelope.commandId,
      { [HEADERS.expectedPartition]: String(expected) },
    )
  }
  const schema = Object.hasOwn(decider.commands, envelope.type) ? decider.commands[envelope.type] : undefined
  if (schema === undefined) {
    return invalidOf(
      r,
      aggregateId,
      'unknown_type',
      `unknown command type "${truncate(envelope.type, 100)}"; known types: ${Object.keys(decider.commands).join(', ')}`,
      envelope.commandId,
    )
  }
  let payload: ReturnType<typeof schema.safeParse>
  try {
    payload = schema.safeParse(envelope.payload)
  } catch (e) {
    // A refine/transform/preprocess that throws goes through safeParse: the payload is refused, not the batch.
    return invalidOf(
      r,
      aggregateId,
      'schema_threw',
      `the ${envelope.type} payload schema threw: ${truncate(describeThrown(e), 500)}`,
      envelope.commandId,
    )
  }
  if (!payload.success) {
    return invalidOf(
      r,
      aggregateId,
      'invalid_payload',
      `invalid ${envelope.type} payload: ${formatIssues(payload.error.issues)}`,
      envelope.commandId,
    )
  }
  return { ok: true, record: r, aggregateId, envelope, payload: payload.data }
}

function recoverCommandId(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined
  const id = (raw as Record<string, unknown>).commandId
  return typeof id === 'string' && id.length > 0 && id.length <= 256 ? id : undefined
}

function formatIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(value)'}: ${i.message}`)
    .join('; ')
}

function headerString(v: HeaderValue): string | undefined {
  const one = Array.isArray(v) ? v[0] : v
  return one === undefined ? undefined : one.toString()
}

export function truncate(s: string, n: number): string {
  return s.length > n ? s.slice(0, n) + '…' : s
}
