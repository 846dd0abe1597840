/** Builders for command records and readers of output records, for unit tests of the processor and task. */
import { CONTENT_TYPES, decode, encode, type Serialization } from '../domain/codec.ts'
import { HEADERS, type CommandEnvelope, type EventEnvelope, type ReplyEnvelope } from '../domain/envelopes.ts'
import type { InputRecord, OutputRecord } from '../runtime/ports.ts'
import type { MemoryLog } from './memory-log.ts'

export interface CommandSpec {
  aggregateId: string | null
  commandId: string
  type: string
  payload: unknown
  expectedVersion?: number
  metadata?: Record<string, unknown>
}

export function envelopeOf(c: CommandSpec): CommandEnvelope {
  return {
    commandId: c.commandId,
    type: c.type,
    payload: c.payload,
    ...(c.expectedVersion !== undefined ? { expectedVersion: c.expectedVersion } : {}),
    ...(c.metadata !== undefined ? { metadata: c.metadata } : {}),
  }
}

/** An InputRecord carrying a command envelope (offsets given by the caller). */
export function commandRecord(
  c: CommandSpec,
  offset: number | string | bigint,
  o: {
    partition?: number
    serialization?: Serialization
    timestamp?: number
    headers?: Record<string, string | Buffer>
  } = {},
): InputRecord {
  const s = o.serialization ?? 'msgpack'
  return {
    partition: o.partition ?? 0,
    offset: BigInt(offset),
    key: c.aggregateId === null ? null : Buffer.from(c.aggregateId),
    value: encode(envelopeOf(c), s),
    headers: { [HEADERS.contentType]: CONTENT_TYPES[s], ...(o.headers ?? {}) },
    timestamp: String(o.timestamp ?? 1_700_000_000_000),
  }
}

/** A raw InputRecord (for undecodable / keyless / null-value cases). */
export function rawRecord(
  key: string | null,
  value: Buffer | null,
  offset: number | string | bigint,
  headers: Record<string, string | Buffer> = {},
  partition = 0,
): InputRecord {
  return {
    partition,
    offset: BigInt(offset),
    key: key === null ? null : Buffer.from(key),
    value,
    headers,
    timestamp: '1700000000000',
  }
}

/** Produces commands to a MemoryLog's commands topic; returns their offsets. */
export function produceCommands(
  log: MemoryLog,
  topic: string,
  partition: number,
  commands: CommandSpec[],
  serialization: Serialization = 'msgpack',
): string[] {
  return commands.map(
    (c) =>
      log.produce(topic, {
        partition,
        key: c.aggregateId,
        value: encode(envelopeOf(c), serialization),
        headers: { [HEADERS.contentType]: CONTENT_TYPES[serialization] },
      }).offset,
  )
}

export function decodeRecord<T>(r: Pick<OutputRecord, 'value' | 'headers'>): T {
  if (r.value === null) throw new Error('record has no value')
  const ct = r.headers[HEADERS.contentType]
  return decode(r.value, ct === undefined ? undefined : ct.toString()) as T
}

export const isTopic = (topic: string) => (r: { topic: string }) => r.topic === topic
export const replies = (records: OutputRecord[], topic: string): ReplyEnvelope[] =>
  records.filter(isTopic(topic)).map((r) => decodeRecord<ReplyEnvelope>(r))
export const events = (records: OutputRecord[], topic: string): EventEnvelope[] =>
  records.filter(isTopic(topic)).map((r) => decodeRecord<EventEnvelope>(r))
