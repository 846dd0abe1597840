/**
 * The per-aggregate event index of a task's store: every committed event of the partition, by (aggregateId,
 * version), next to the snapshots. Written in the same atomic batch as the snapshots and the checkpoint (after the
 * Kafka commit), so it is always a prefix of the committed events topic partition, like the snapshots are of the
 * changelog; restored from the events topic after a lost state dir (runtime/event-index.ts, restoreIndex).
 *
 * An entry holds the event record's value exactly as it is on the events topic (its bytes, JSON or msgpack as the
 * topology writes them) and its events-topic offset. The bytes, not only the offset: reading an event by offset
 * from Kafka needs a consumer fetch per read (kafkajs has no random access), far from a millisecond read; and with
 * the bytes, the index equals the topic byte for byte (what the verifier checks). The offset: it places the event
 * in the partition's commit order (the sequential read) and says where the topic has it.
 *
 * Key encoding (utf8 strings, ordered bytewise by LevelDB):
 *   "e/" + 4 hex digits (the aggregate id's length in UTF-8 bytes) + aggregateId + 16 hex digits (the version)
 *   "o/" + 16 hex digits (the events-topic offset)  -> the "e/" key of that event (commit order)
 * Fixed-width hex is big-endian, so versions (and offsets) sort numerically. The length prefix makes one
 * aggregate's keys a prefix no other aggregate shares: a separator would not (an aggregate id may contain any
 * character after its first, NUL included), so a range read of one aggregate reads only its own entries:
 * O(events of that aggregate), whatever else the partition holds.
 */
import { decode } from '../domain/codec.ts'
import type { EventEnvelope } from '../domain/envelopes.ts'

/** One indexed event: where it is on the events topic and its record value as written there. */
export interface IndexedEvent {
  aggregateId: string
  version: number
  /** Offset of the event's record in the events topic partition of this task. */
  offset: bigint
  /** The event record's value as on the events topic (an encoded EventEnvelope). */
  value: Buffer
}

/** A range of one aggregate's versions (inclusive); `limit` bounds how many entries one read returns. */
export interface VersionRange {
  fromVersion?: number
  toVersion?: number
  limit?: number
}

export const EVENT_PREFIX = 'e/'
export const OFFSET_PREFIX = 'o/'

const hex16 = (n: bigint | number): string => n.toString(16).padStart(16, '0')

/** The key prefix of all of one aggregate's entries. */
export function aggregatePrefix(aggregateId: string): string {
  const bytes = Buffer.byteLength(aggregateId, 'utf8')
  return EVENT_PREFIX + bytes.toString(16).padStart(4, '0') + aggregateId
}

export function eventKey(aggregateId: string, version: number): string {
  return aggregatePrefix(aggregateId) + hex16(version)
}

export function offsetKey(offset: bigint): string {
  return OFFSET_PREFIX + hex16(offset)
}

/** The [gte, lte] key bounds of a version range of one aggregate. */
export function versionBounds(aggregateId: string, r: VersionRange): { gte: string; lte: string } {
  const prefix = aggregatePrefix(aggregateId)
  return {
    gte: prefix + hex16(Math.max(0, r.fromVersion ?? 0)),
    lte: prefix + hex16(r.toVersion === undefined ? Number.MAX_SAFE_INTEGER : Math.max(0, r.toVersion)),
  }
}

/** Value of an "e/" key: the offset as 8 bytes big-endian, then the record value. */
export function encodeEntry(e: IndexedEvent): Buffer {
  const out = Buffer.allocUnsafe(8 + e.value.length)
  out.writeBigUInt64BE(e.offset, 0)
  e.value.copy(out, 8)
  return out
}

export function decodeEntry(aggregateId: string, version: number, bytes: Uint8Array): IndexedEvent {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return { aggregateId, version, offset: b.readBigUInt64BE(0), value: Buffer.from(b.subarray(8)) }
}

/** The version encoded at the end of an "e/" key. */
export function versionOfKey(key: string): number {
  return Number.parseInt(key.slice(-16), 16)
}

/** The aggregate id of an "e/" key. */
export function aggregateIdOfKey(key: string): string {
  return key.slice(EVENT_PREFIX.length + 4, -16)
}

/** The event of an indexed entry, decoded from its record value (JSON or msgpack, recognised by its bytes). */
export function eventOf(e: IndexedEvent): EventEnvelope {
  return decode(e.value) as EventEnvelope
}

/** Entries of the events-topic records of one committed batch: the events, and their offsets from `base`. */
export function indexEntries(values: readonly Buffer[], base: bigint): IndexedEvent[] {
  return values.map((value, i) => {
    const event = decode(value) as Partial<EventEnvelope>
    if (typeof event.aggregateId !== 'string' || typeof event.version !== 'number')
      throw new Error(`event record ${i} of the batch has no aggregateId/version`)
    return { aggregateId: event.aggregateId, version: event.version, offset: base + BigInt(i), value }
  })
}
