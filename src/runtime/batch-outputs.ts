/**
 * The outputs one batch stages, in input order: events (added by the processor), replies and dead letters,
 * plus the counts the metrics need. Pure: records are built here and sent by the commit (commit.ts).
 *
 * Every reply names the command record it answers in its headers, kd-source-partition and kd-source-offset (as
 * dead letters do): a CommandClient that sent a commandId twice tells the two replies apart by them.
 *
 * Every record is at most processing.maxRecordBytes (recordBytes below), so the broker never refuses one and
 * the transaction never retries for ever: the processor fails a command whose event, snapshot or accepted reply
 * would be larger (record_too_large); error messages are capped; a refused command's reply echoes less when it
 * must; a dead letter keeps a prefix of the original value (kd-original-truncated), and if the key and headers
 * alone are too large, leaves out the original headers and cuts the key.
 */
import { CONTENT_TYPES, encode, type Serialization } from '../domain/codec.ts'
import { HEADERS, type ReplyEnvelope, type ReplyStatus } from '../domain/envelopes.ts'
import type { TopicNames } from '../topology/schema.ts'
import type { Decoded, DeadLetterReason } from './command-decoder.ts'
import type { InputRecord, OutputRecord } from './ports.ts'
import { truncateUtf8 } from './text.ts'

export interface BatchOutcomes {
  byStatus: Record<ReplyStatus, number>
  deadLetters: Partial<Record<DeadLetterReason, number>>
  events: number
}

export const emptyOutcomes = (): BatchOutcomes => ({
  byStatus: { accepted: 0, rejected: 0, duplicate: 0, conflict: 0, invalid: 0, failed: 0 },
  deadLetters: {},
  events: 0,
})

export interface OutputOptions {
  topics: TopicNames
  topologyName: string
  serialization: Serialization
  /** No record of the batch is larger (processing.maxRecordBytes, below the broker's message.max.bytes). */
  maxRecordBytes: number
  /**
   * The replies topic's partition count. A reply then goes to the partition of its command's input partition
   * (modulo this count), not to its key's: a task's transactions touch only "its" replies partitions, so a killed
   * worker's open transaction (open until the new owner fences it) hides no other partition's replies from
   * read_committed readers. Undefined: the key's partition (the in-memory driver).
   */
  repliesPartitions?: number
}

/** A one-record batch's header (61 bytes) and the record's own length fields, rounded up. */
const RECORD_OVERHEAD = 100
/** A header's two length fields. */
const HEADER_OVERHEAD = 10

const byteLength = (v: string | Buffer | null): number =>
  v === null ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length

/** Bytes the headers add to a record (names, values, framing). */
export function headersBytes(headers: Record<string, string | Buffer>): number {
  let n = 0
  for (const k in headers) n += HEADER_OVERHEAD + Buffer.byteLength(k) + byteLength(headers[k]!)
  return n
}

/**
 * The size of a record as the broker counts it against max.message.bytes when it is alone in its batch
 * (over-estimated): key, value, headers and the framing.
 */
export function recordBytes(r: Pick<OutputRecord, 'key' | 'value' | 'headers'>): number {
  return RECORD_OVERHEAD + byteLength(r.key) + (r.value?.length ?? 0) + headersBytes(r.headers)
}

/**
 * Whether a record with this key, value size and headers size fits `max`; on the common path without measuring
 * the key (a UTF-16 unit is at most 3 UTF-8 bytes). Returns its size when it does not fit, else 0.
 */
export function oversize(key: string, valueBytes: number, headerBytes: number, max: number): number {
  const fixed = RECORD_OVERHEAD + valueBytes + headerBytes
  if (fixed + key.length * 3 <= max) return 0
  const bytes = fixed + Buffer.byteLength(key)
  return bytes <= max ? 0 : bytes
}

type ReplyHeader = typeof HEADERS.contentType | typeof HEADERS.sourcePartition | typeof HEADERS.sourceOffset

/** The source headers of a reply (sourceHeaders), without their values (the partition's and offset's digits). */
const SOURCE_HEADERS_BYTES = headersBytes({ [HEADERS.sourcePartition]: '', [HEADERS.sourceOffset]: '' })

export class BatchOutputs {
  readonly records: OutputRecord[] = []
  readonly outcomes = emptyOutcomes()
  readonly contentTypeHeader: Record<string, string>
  /** headersBytes(contentTypeHeader): the headers of events (replies add their source headers). */
  readonly contentTypeBytes: number
  /** Cap of an error message (UTF-8 bytes) in replies and dead-letter headers. */
  readonly messageBytes: number

  private readonly contentType: string

  constructor(private readonly o: OutputOptions) {
    this.contentType = CONTENT_TYPES[o.serialization]
    this.contentTypeHeader = { [HEADERS.contentType]: this.contentType }
    this.contentTypeBytes = headersBytes(this.contentTypeHeader)
    this.messageBytes = Math.min(2048, Math.max(256, Math.floor(o.maxRecordBytes / 4)))
  }

  /** An input that is not a valid command: an 'invalid' reply (when it has a commandId) and a dead letter. */
  invalid(d: Extract<Decoded, { ok: false }>): void {
    this.refused('invalid', d.record, d.commandId, d.aggregateId, 0, d.reason, d.message, d.headers)
  }

  /** A command refused ('invalid') or failed: its reply (when it has a commandId) and a dead letter. */
  refused(
    status: 'invalid' | 'failed',
    record: InputRecord,
    commandId: string | undefined,
    aggregateId: string,
    version: number,
    reason: DeadLetterReason,
    message: string,
    extra: Record<string, string> = {},
  ): void {
    this.outcomes.byStatus[status]++
    const capped = truncateUtf8(message, this.messageBytes)
    if (commandId !== undefined) {
      this.reply(
        {
          commandId,
          aggregateId,
          status,
          version,
          events: [],
          error: { code: reason, message: capped },
        },
        record,
      )
    }
    this.deadLetter(record, reason, capped, extra)
  }

  /**
   * Stages the reply to the command record `source`, made to fit (see replyRecord); one that cannot fit even then
   * is left out.
   */
  reply(reply: ReplyEnvelope, source: InputRecord): void {
    const r = this.replyRecord(reply, source, true)
    if (r !== undefined) this.records.push(r)
  }

  /**
   * The record of the reply to the command record `source` (content type, kd-source-partition and
   * kd-source-offset headers) if it fits maxRecordBytes. With `shrink` (replies that are not 'accepted' or
   * 'rejected'), its error message and its echo of the aggregate id are cut further until it fits; undefined
   * when it cannot (only a maxRecordBytes below ~2 KB with a 256-character commandId of multi-byte characters).
   */
  replyRecord(reply: ReplyEnvelope, source: InputRecord, shrink: boolean): OutputRecord | undefined {
    // No closures here: this runs for every command (and tsx names each closure it creates).
    const partition = String(source.partition)
    const offset = source.offset.toString()
    // The headers' values are ASCII digits: their lengths are their bytes.
    const headerBytes = this.contentTypeBytes + SOURCE_HEADERS_BYTES + partition.length + offset.length
    let r = this.encodeReply(reply, partition, offset)
    if (this.fits(r, headerBytes)) return r
    if (!shrink) return undefined
    for (const bytes of [256, 32, 0]) {
      r = this.encodeReply(
        {
          ...reply,
          aggregateId: truncateUtf8(reply.aggregateId, bytes),
          ...(reply.error
            ? { error: { code: reply.error.code, message: truncateUtf8(reply.error.message, bytes) } }
            : {}),
        },
        partition,
        offset,
      )
      if (this.fits(r, headerBytes)) return r
    }
    return undefined
  }

  private encodeReply(reply: ReplyEnvelope, partition: string, offset: string): OutputRecord {
    // Literal keys (the type ties them to HEADERS): computed keys or a spread here cost ~1% of a worker's CPU.
    const headers: Record<ReplyHeader, string> = {
      'content-type': this.contentType,
      'kd-source-partition': partition,
      'kd-source-offset': offset,
    }
    const r: OutputRecord = {
      topic: this.o.topics.replies,
      key: reply.commandId,
      value: encode(reply, this.o.serialization),
      headers,
    }
    if (this.o.repliesPartitions) r.partition = Number(partition) % this.o.repliesPartitions
    return r
  }

  private fits(r: OutputRecord, headerBytes: number): boolean {
    return oversize(r.key as string, r.value!.length, headerBytes, this.o.maxRecordBytes) === 0
  }

  /**
   * The original record (key, value, its own headers but kd-*) with error headers saying why and where it came
   * from, and the reason's own (`extra`, kd-* too), made to fit maxRecordBytes: first the value is cut
   * (kd-original-truncated: its original size), then the original headers are left out
   * (kd-original-headers-dropped), then the key is cut (kd-original-key-truncated).
   */
  deadLetter(
    r: InputRecord,
    reason: DeadLetterReason,
    message: string,
    extra: Record<string, string> = {},
  ): void {
    this.outcomes.deadLetters[reason] = (this.outcomes.deadLetters[reason] ?? 0) + 1
    const headers: Record<string, string | Buffer> = {}
    for (const [k, v] of Object.entries(r.headers ?? {})) {
      const one = Array.isArray(v) ? v[0] : v
      if (one !== undefined && !k.startsWith('kd-')) headers[k] = one
    }
    headers[HEADERS.errorCode] = reason
    headers[HEADERS.errorMessage] = truncateUtf8(message, this.messageBytes)
    headers[HEADERS.sourceTopic] = this.o.topics.commands
    headers[HEADERS.sourcePartition] = String(r.partition)
    headers[HEADERS.sourceOffset] = r.offset.toString()
    headers[HEADERS.topology] = this.o.topologyName
    Object.assign(headers, extra)
    const out: OutputRecord = { topic: this.o.topics.deadLetters, key: r.key, value: r.value, headers }
    if (recordBytes(out) > this.o.maxRecordBytes) this.fitDeadLetter(out)
    this.records.push(out)
  }

  private fitDeadLetter(out: OutputRecord): void {
    const max = this.o.maxRecordBytes
    const value = out.value
    const room = () => max - recordBytes({ ...out, value: null })
    if (value !== null) {
      out.headers[HEADERS.originalTruncated] = String(value.length)
      if (room() >= 0) {
        out.value = value.subarray(0, room())
        return
      }
      out.value = value.subarray(0, 0)
    }
    let dropped = 0
    for (const k of Object.keys(out.headers)) {
      if (k.startsWith('kd-')) continue
      delete out.headers[k]
      dropped++
    }
    if (dropped > 0) out.headers[HEADERS.originalHeadersDropped] = String(dropped)
    if (room() >= 0) {
      if (value !== null) out.value = value.subarray(0, room())
      return
    }
    const key = out.key === null ? null : Buffer.from(out.key)
    if (key !== null) {
      out.headers[HEADERS.originalKeyTruncated] = String(key.length)
      out.key = null
      out.key = key.subarray(0, Math.max(0, room()))
    }
    if (room() < 0) out.headers[HEADERS.errorMessage] = ''
  }
}
