/**
 * What both stages of a projection need: reading one source event (bytes -> upcast envelope), the projector's
 * failures turned into dead letters or a stop (errors.onProjectError), and the records' headers.
 */
import { CONTENT_TYPES, decode, type Serialization } from '../domain/codec.ts'
import type { AnyDecider } from '../domain/decider.ts'
import { HEADERS, type EventEnvelope } from '../domain/envelopes.ts'
import { upcastEvent } from '../domain/upcasting.ts'
import {
  ProjectionFailedError,
  SourceEventInvalidError,
  recoveryOf,
  type KafkaDeciderError,
} from '../errors.ts'
import type { HeaderValue, InputRecord, OutputRecord } from './ports.ts'
import { describeThrown, truncateUtf8 } from './text.ts'

const MESSAGE_BYTES = 2000

export function headerString(v: HeaderValue): string | undefined {
  const one = Array.isArray(v) ? v[0] : v
  return one === undefined ? undefined : one.toString()
}

export const contentTypeHeader = (s: Serialization) => ({ [HEADERS.contentType]: CONTENT_TYPES[s] })

/** A source record's event, upcast by the source's decider (when the source names one). Throws SourceEventInvalidError. */
export function readSourceEvent(r: InputRecord, decider: AnyDecider | undefined): EventEnvelope {
  if (r.value === null)
    throw new SourceEventInvalidError('the record has no value (a tombstone), not an event')
  let e: Partial<EventEnvelope>
  try {
    e = decode(r.value, headerString(r.headers?.[HEADERS.contentType])) as Partial<EventEnvelope>
  } catch (err) {
    throw new SourceEventInvalidError(`the value cannot be decoded: ${describeThrown(err)}`)
  }
  if (typeof e !== 'object' || e === null || typeof e.type !== 'string' || typeof e.aggregateId !== 'string')
    throw new SourceEventInvalidError(
      'the value is not an event envelope (no string "type" and "aggregateId")',
    )
  if (decider === undefined) return e as EventEnvelope
  try {
    return upcastEvent(decider, e as EventEnvelope)
  } catch (err) {
    throw new SourceEventInvalidError(describeThrown(err), { cause: err })
  }
}

/**
 * What to do with a failure of one event (bad bytes, key() or project() threw): a dead letter under
 * `dead-letter`, a stop (ProjectionFailedError) under `stop`. Infrastructure errors (anything with a recovery
 * other than `command`) are rethrown as they are.
 */
export function deadLetterOrStop(
  e: unknown,
  r: InputRecord,
  o: {
    policy: 'dead-letter' | 'stop'
    topic: string
    deadLetters: string
    projection: string
    stage: string
  },
): OutputRecord {
  if (recoveryOf(e) !== 'command') throw e
  const code = (e as KafkaDeciderError).code
  const message = truncateUtf8(describeThrown(e), MESSAGE_BYTES)
  if (o.policy === 'stop')
    throw new ProjectionFailedError(
      `projection ${o.projection} (${o.stage}) failed on ${o.topic}[${r.partition}]@${r.offset} (errors.onProjectError: stop): ${message}. Fix the projector, deploy it and run decider rebuild, or set onProjectError: dead-letter`,
      { cause: e },
    )
  const headers: Record<string, string | Buffer> = {}
  for (const [k, v] of Object.entries(r.headers ?? {})) {
    const one = Array.isArray(v) ? v[0] : v
    if (one !== undefined && !k.startsWith('kd-')) headers[k] = one
  }
  Object.assign(headers, {
    [HEADERS.errorCode]: code,
    [HEADERS.errorMessage]: message,
    [HEADERS.sourceTopic]: o.topic,
    [HEADERS.sourcePartition]: String(r.partition),
    [HEADERS.sourceOffset]: r.offset.toString(),
    [HEADERS.topology]: o.projection,
  })
  return { topic: o.deadLetters, key: r.key, value: r.value, headers }
}
