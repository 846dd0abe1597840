/**
 * The outputs one batch stages, in input order: events (added by the processor), replies and dead letters,
 * plus the counts the metrics need. Pure: records are built here and sent by the commit (commit.ts).
 */
import { CONTENT_TYPES, encode, type Serialization } from '../domain/codec.ts'
import { HEADERS, type ReplyEnvelope, type ReplyStatus } from '../domain/envelopes.ts'
import type { TopicNames } from '../topology/schema.ts'
import type { Decoded, DeadLetterReason } from './command-decoder.ts'
import type { InputRecord, OutputRecord } from './ports.ts'

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
}

export class BatchOutputs {
  readonly records: OutputRecord[] = []
  readonly outcomes = emptyOutcomes()
  readonly contentTypeHeader: Record<string, string>

  constructor(private readonly o: OutputOptions) {
    this.contentTypeHeader = { [HEADERS.contentType]: CONTENT_TYPES[o.serialization] }
  }

  /** An input that is not a valid command: an 'invalid' reply (when it has a commandId) and a dead letter. */
  invalid(d: Extract<Decoded, { ok: false }>): void {
    this.refused('invalid', d.record, d.commandId, d.aggregateId, 0, d.reason, d.message)
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
  ): void {
    this.outcomes.byStatus[status]++
    if (commandId !== undefined) {
      this.reply({ commandId, aggregateId, status, version, events: [], error: { code: reason, message } })
    }
    this.deadLetter(record, reason, message)
  }

  reply(reply: ReplyEnvelope): void {
    this.records.push({
      topic: this.o.topics.replies,
      key: reply.commandId,
      value: encode(reply, this.o.serialization),
      headers: this.contentTypeHeader,
    })
  }

  /** The original record (key, value, its own headers) with error headers saying why and where it came from. */
  deadLetter(r: InputRecord, reason: DeadLetterReason, message: string): void {
    this.outcomes.deadLetters[reason] = (this.outcomes.deadLetters[reason] ?? 0) + 1
    const headers: Record<string, string | Buffer> = {}
    for (const [k, v] of Object.entries(r.headers ?? {})) {
      const one = Array.isArray(v) ? v[0] : v
      if (one !== undefined && !k.startsWith('kd-')) headers[k] = one
    }
    headers[HEADERS.errorCode] = reason
    headers[HEADERS.errorMessage] = message
    headers[HEADERS.sourceTopic] = this.o.topics.commands
    headers[HEADERS.sourcePartition] = String(r.partition)
    headers[HEADERS.sourceOffset] = r.offset.toString()
    headers[HEADERS.topology] = this.o.topologyName
    this.records.push({ topic: this.o.topics.deadLetters, key: r.key, value: r.value, headers })
  }
}
