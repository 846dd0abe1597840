/**
 * The wire contract (documented in the README): what other services produce and read.
 * Keys: commands and events by aggregateId, replies by commandId, changelog by aggregateId.
 */
import { z } from 'zod'

export const commandMetadataSchema = z
  .object({
    correlationId: z.string().min(1).optional(),
    causationId: z.string().min(1).optional(),
    issuedAt: z.union([z.string(), z.number()]).optional(),
  })
  .catchall(z.unknown())

export const commandEnvelopeSchema = z.object({
  commandId: z.string().min(1).max(256),
  type: z.string().min(1).max(256),
  payload: z.unknown(),
  expectedVersion: z.number().int().min(0).optional(),
  metadata: commandMetadataSchema.optional(),
})

export type CommandEnvelope = z.infer<typeof commandEnvelopeSchema>

export interface EventEnvelope {
  eventId: string
  type: string
  aggregateId: string
  version: number
  payload: unknown
  commandId: string
  correlationId: string
  causationId: string
  /** When the command was issued (ISO-8601). */
  eventTime: string
  /** When the worker decided (ISO-8601). */
  recordedAt: string
  schemaVersion: number
}

export const REPLY_STATUSES = ['accepted', 'rejected', 'duplicate', 'conflict', 'invalid', 'failed'] as const
export type ReplyStatus = (typeof REPLY_STATUSES)[number]

export interface ReplyEnvelope {
  commandId: string
  aggregateId: string
  status: ReplyStatus
  /** Aggregate version after the command (for duplicate: after the original). */
  version: number
  /** [event type, version] of the events the command produced. */
  events: [string, number][]
  error?: { code: string; message: string }
  /** For duplicate: the status of the original command. */
  originalStatus?: ReplyStatus
}

/** Outcome of a command remembered per aggregate, to answer re-sent commandIds (dedupe window). */
export interface RememberedOutcome {
  commandId: string
  status: 'accepted' | 'rejected'
  version: number
  events: [string, number][]
  error?: { code: string; message: string }
}

export interface SnapshotRecord<S = unknown> {
  aggregateId: string
  version: number
  state: S
  /** Most recent first, at most the topology's dedupe window. */
  recent: RememberedOutcome[]
  /** Input (commands topic) offset of the last command that changed this snapshot. */
  sourceOffset: string
}

/** Changelog key of the per-partition offset marker written in every transaction. */
export const OFFSET_MARKER_KEY = '\u0000kafka-decider/offset-marker'

export interface OffsetMarker {
  marker: 'input-offset'
  /** Last input offset processed in the transaction that wrote this marker. */
  inputOffset: string
}

export const HEADERS = {
  contentType: 'content-type',
  sourceOffset: 'kd-source-offset',
  errorCode: 'kd-error-code',
  errorMessage: 'kd-error-message',
  sourceTopic: 'kd-source-topic',
  sourcePartition: 'kd-source-partition',
  topology: 'kd-topology',
  /** On a dead letter whose original value was cut to fit processing.maxRecordBytes: the original value's size. */
  originalTruncated: 'kd-original-truncated',
  /** ... whose original key was cut: the original key's size in bytes. */
  originalKeyTruncated: 'kd-original-key-truncated',
  /** ... whose original record's own headers were left out: how many. */
  originalHeadersDropped: 'kd-original-headers-dropped',
} as const
