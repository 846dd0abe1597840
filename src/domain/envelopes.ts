/**
 * The wire contract (documented in the README): what other services produce and read.
 * Keys: commands and events by aggregateId, replies by commandId, changelog by aggregateId.
 */
import { isUtf8 } from 'node:buffer'
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
  /** Version of the payload's shape for this event type (README "Event versioning"); 1 when absent. */
  schemaVersion: number
  /** On a correction event only: the eventIds of the earlier events of this aggregate it corrects. */
  corrects?: string[]
  /** On a correction event only: why (decide's reason). */
  correctionReason?: string
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
  /**
   * The decider's stateVersion when this snapshot was written (absent in snapshots written before it existed: 1).
   * A snapshot of another stateVersion is not trusted: the aggregate is rebuilt from its events.
   */
  stateVersion?: number
}

/** Longest aggregate id (a command record's key), in UTF-8 bytes. */
export const MAX_AGGREGATE_ID_BYTES = 256

/**
 * Keys starting with NUL are reserved for the worker's internal records (the changelog's offset marker, and any
 * later ones): no command may use one (`reserved_key`), so no aggregate's snapshot can land there.
 */
export const RESERVED_KEY_PREFIX = '\u0000'

/** Changelog key of the per-partition offset marker written in every transaction (unchanged since v0.1). */
export const OFFSET_MARKER_KEY = `${RESERVED_KEY_PREFIX}kafka-decider/offset-marker`

export function isReservedKey(key: string): boolean {
  return key.startsWith(RESERVED_KEY_PREFIX)
}

/** Why a key cannot be an aggregate id (the code is the reply's error code and the dead letter's reason). */
export interface KeyProblem {
  code: 'missing_key' | 'invalid_key' | 'reserved_key'
  message: string
}

/**
 * Checks a command record's key (bytes, as they came) as an aggregate id: present, valid UTF-8 (so the id is
 * exactly these bytes, never a lossy decoding that another key shares), at most MAX_AGGREGATE_ID_BYTES, and
 * outside the reserved key space. Undefined when it is a valid aggregate id.
 */
export function checkAggregateKey(key: Buffer | null): KeyProblem | undefined {
  if (key === null || key.length === 0)
    return {
      code: 'missing_key',
      message: 'the record has no key (null or empty); the key must be the aggregate id',
    }
  if (!isUtf8(key)) {
    const head = key.subarray(0, 32).toString('hex') + (key.length > 32 ? '…' : '')
    return {
      code: 'invalid_key',
      message: `the key is not valid UTF-8 (hex ${head}); an aggregate id is a UTF-8 string`,
    }
  }
  if (key.length > MAX_AGGREGATE_ID_BYTES) {
    return {
      code: 'invalid_key',
      message: `the key is ${key.length} bytes; an aggregate id is at most ${MAX_AGGREGATE_ID_BYTES} bytes (UTF-8)`,
    }
  }
  if (key[0] === 0) {
    return {
      code: 'reserved_key',
      message: 'the key starts with NUL (\\u0000): keys starting with NUL are reserved for internal records',
    }
  }
  return undefined
}

/** checkAggregateKey for an id given as a string (the CommandClient), before it is encoded. */
export function checkAggregateId(id: string): KeyProblem | undefined {
  // A lone surrogate has no UTF-8 form: Buffer.from would write U+FFFD instead, i.e. another aggregate id.
  if (/\p{Surrogate}/u.test(id))
    return {
      code: 'invalid_key',
      message: 'the aggregate id contains a lone UTF-16 surrogate: it has no UTF-8 form',
    }
  return checkAggregateKey(Buffer.from(id, 'utf8'))
}

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
  /** On a misrouted command's dead letter: the partition its key hashes to (kd-source-partition: where it came). */
  expectedPartition: 'kd-expected-partition',
  /** On a dead letter whose original value was cut to fit processing.maxRecordBytes: the original value's size. */
  originalTruncated: 'kd-original-truncated',
  /** ... whose original key was cut: the original key's size in bytes. */
  originalKeyTruncated: 'kd-original-key-truncated',
  /** ... whose original record's own headers were left out: how many. */
  originalHeadersDropped: 'kd-original-headers-dropped',
} as const
