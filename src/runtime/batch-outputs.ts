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
    this.outcomes.byStatus.invalid++
    if (d.commandId !== undefined) {
      this.reply({
        commandId: d.commandId,
        aggregateId: d.aggregateId,
        status: 'invalid',
        version: 0,
        events: [],
        error: { code: d.reason, message: d.message },
      })
    }
    this.deadLetter(d.record, d.reason, d.message, d.headers)
  }

  reply(reply: ReplyEnvelope): void {
    this.records.push({
      topic: this.o.topics.replies,
      key: reply.commandId,
      value: encode(reply, this.o.serialization),
      headers: this.contentTypeHeader,
    })
  }

  /**
   * The original record (key, value, its own headers but kd-*) with error headers saying why and where it came
   * from, and the reason's own (`extra`, kd-* too).
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
    headers[HEADERS.errorMessage] = message
    headers[HEADERS.sourceTopic] = this.o.topics.commands
    headers[HEADERS.sourcePartition] = String(r.partition)
    headers[HEADERS.sourceOffset] = r.offset.toString()
    headers[HEADERS.topology] = this.o.topologyName
    Object.assign(headers, extra)
    this.records.push({ topic: this.o.topics.deadLetters, key: r.key, value: r.value, headers })
  }
}
