/**
 * CommandProcessor: turns one batch of command records into staged outputs. Pure apart from the clock:
 * no Kafka, no LevelDB. The task (kafka) and the TopologyTestDriver (in memory) both run this code.
 *
 *   decode envelope ........ bad bytes / no key / unknown type / invalid payload -> 'invalid' + dead letter
 *   dedupe by commandId .... seen in the aggregate's window -> 'duplicate' with the original outcome
 *   expectedVersion ........ mismatch -> 'conflict'
 *   decide ................. rejection -> 'rejected'; throws -> policy ('failed' + dead letter, or stop)
 *   evolve ................. new state, version + 1 per event; events, reply, snapshot staged
 */
import { isRejection, type AnyDecider, type DecideContext } from '../domain/decider.ts'
import { CONTENT_TYPES, decode, encode, type Serialization } from '../domain/codec.ts'
import {
  commandEnvelopeSchema,
  HEADERS,
  type CommandEnvelope,
  type EventEnvelope,
  type RememberedOutcome,
  type ReplyEnvelope,
  type ReplyStatus,
  type SnapshotRecord,
} from '../domain/envelopes.ts'
import { DecideFailedError, InvalidDecisionError } from '../errors.ts'
import type { TopicNames } from '../topology/schema.ts'

export type HeaderValue = Buffer | string | (Buffer | string)[] | undefined

export interface InputRecord {
  partition: number
  offset: string
  key: Buffer | null
  value: Buffer | null
  headers?: Record<string, HeaderValue>
  /** Record timestamp, epoch ms as a string (kafkajs style). */
  timestamp: string
}

export interface OutputRecord {
  topic: string
  /** Set for co-partitioned topics (events, changelog); replies and dead letters use the key's partition. */
  partition?: number
  key: string | Buffer | null
  value: Buffer | null
  headers: Record<string, string | Buffer>
}

export type DeadLetterReason =
  | 'undecodable'
  | 'missing_key'
  | 'invalid_envelope'
  | 'unknown_type'
  | 'invalid_payload'
  | 'decide_threw'
  | 'invalid_decision'
  | 'record_too_large'

export interface BatchOutcomes {
  byStatus: Record<ReplyStatus, number>
  deadLetters: Partial<Record<DeadLetterReason, number>>
  events: number
}

export interface BatchResult {
  /** Events, replies and dead letters, in input order. */
  records: OutputRecord[]
  /** Snapshots changed by this batch (latest per aggregate). */
  snapshots: Map<string, SnapshotRecord>
  /** Their encoded changelog values, by aggregate id. */
  snapshotBytes: Map<string, Buffer>
  outcomes: BatchOutcomes
  firstOffset: string
  lastOffset: string
}

export interface ProcessorOptions {
  decider: AnyDecider
  topics: TopicNames
  topologyName: string
  serialization: Serialization
  dedupeWindow: number
  onDecideError: 'fail-command' | 'stop'
  /** Largest event or snapshot record a command may write (below the broker's message.max.bytes). */
  maxRecordBytes: number
  /** Wall clock for `recordedAt`; injected so tests are deterministic. */
  now: () => number
}

type Decoded =
  | { ok: true; record: InputRecord; aggregateId: string; envelope: CommandEnvelope; payload: unknown }
  | { ok: false; record: InputRecord; reason: DeadLetterReason; message: string; commandId?: string; aggregateId: string }

export const emptyOutcomes = (): BatchOutcomes => ({
  byStatus: { accepted: 0, rejected: 0, duplicate: 0, conflict: 0, invalid: 0, failed: 0 },
  deadLetters: {},
  events: 0,
})

export class CommandProcessor {
  private readonly contentTypeHeader: Record<string, string>

  constructor(private readonly o: ProcessorOptions) {
    this.contentTypeHeader = { [HEADERS.contentType]: CONTENT_TYPES[o.serialization] }
  }

  /** Step 1: decode every record; returns the decoded batch and the aggregate ids whose snapshots it needs. */
  decodeBatch(records: readonly InputRecord[]): { decoded: Decoded[]; aggregateIds: Set<string> } {
    const decoded: Decoded[] = []
    const aggregateIds = new Set<string>()
    for (const r of records) {
      const d = this.decodeOne(r)
      decoded.push(d)
      if (d.ok) aggregateIds.add(d.aggregateId)
    }
    return { decoded, aggregateIds }
  }

  /**
   * Step 2: decide every command in order. `snapshots` must hold every aggregate id of the batch
   * (undefined = no snapshot yet); it is updated in place so later commands see earlier ones.
   * Throws DecideFailedError only under the `stop` policy.
   */
  processDecoded(decoded: readonly Decoded[], snapshots: Map<string, SnapshotRecord | undefined>): BatchResult {
    const records: OutputRecord[] = []
    const dirty = new Map<string, SnapshotRecord>()
    const dirtyBytes = new Map<string, Buffer>()
    const outcomes = emptyOutcomes()
    for (const d of decoded) {
      if (!d.ok) {
        this.stageInvalid(d, records, outcomes)
        continue
      }
      this.processCommand(d, snapshots, dirty, dirtyBytes, records, outcomes)
    }
    return {
      records,
      snapshots: dirty,
      snapshotBytes: dirtyBytes,
      outcomes,
      firstOffset: decoded[0]?.record.offset ?? '-1',
      lastOffset: decoded[decoded.length - 1]?.record.offset ?? '-1',
    }
  }

  private decodeOne(r: InputRecord): Decoded {
    const aggregateId = r.key === null ? '' : r.key.toString('utf8')
    if (r.value === null || r.value.length === 0) {
      return { ok: false, record: r, reason: 'undecodable', message: 'the record has no value (null or empty)', aggregateId }
    }
    let raw: unknown
    try {
      raw = decode(r.value, headerString(r.headers?.[HEADERS.contentType]))
    } catch (e) {
      return {
        ok: false,
        record: r,
        reason: 'undecodable',
        message: `the value is neither valid msgpack nor JSON (${truncate((e as Error).message, 200)}); send a command envelope`,
        aggregateId,
      }
    }
    const recoveredId = recoverCommandId(raw)
    const parsed = commandEnvelopeSchema.safeParse(raw)
    if (!parsed.success) {
      return {
        ok: false,
        record: r,
        reason: 'invalid_envelope',
        message: `not a command envelope: ${formatIssues(parsed.error.issues)}; expected {commandId, type, payload, expectedVersion?, metadata?}`,
        commandId: recoveredId,
        aggregateId,
      }
    }
    const envelope = parsed.data
    if (aggregateId === '') {
      return {
        ok: false,
        record: r,
        reason: 'missing_key',
        message: 'the record has no key; the key must be the aggregate id',
        commandId: envelope.commandId,
        aggregateId,
      }
    }
    const schema = Object.hasOwn(this.o.decider.commands, envelope.type) ? this.o.decider.commands[envelope.type] : undefined
    if (schema === undefined) {
      return {
        ok: false,
        record: r,
        reason: 'unknown_type',
        message: `unknown command type "${truncate(envelope.type, 100)}"; known types: ${Object.keys(this.o.decider.commands).join(', ')}`,
        commandId: envelope.commandId,
        aggregateId,
      }
    }
    const payload = schema.safeParse(envelope.payload)
    if (!payload.success) {
      return {
        ok: false,
        record: r,
        reason: 'invalid_payload',
        message: `invalid ${envelope.type} payload: ${formatIssues(payload.error.issues)}`,
        commandId: envelope.commandId,
        aggregateId,
      }
    }
    return { ok: true, record: r, aggregateId, envelope, payload: payload.data }
  }

  private processCommand(
    d: Extract<Decoded, { ok: true }>,
    snapshots: Map<string, SnapshotRecord | undefined>,
    dirty: Map<string, SnapshotRecord>,
    dirtyBytes: Map<string, Buffer>,
    records: OutputRecord[],
    outcomes: BatchOutcomes,
  ): void {
    const { aggregateId, envelope, record } = d
    const { decider } = this.o
    const current = snapshots.get(aggregateId)
    const version = current?.version ?? 0

    const remembered = current?.recent.find((c) => c.commandId === envelope.commandId)
    if (remembered !== undefined) {
      outcomes.byStatus.duplicate++
      this.stageReply(records, {
        commandId: envelope.commandId,
        aggregateId,
        status: 'duplicate',
        version: remembered.version,
        events: remembered.events,
        originalStatus: remembered.status,
        ...(remembered.error ? { error: remembered.error } : {}),
      })
      return
    }

    if (envelope.expectedVersion !== undefined && envelope.expectedVersion !== version) {
      outcomes.byStatus.conflict++
      this.stageReply(records, {
        commandId: envelope.commandId,
        aggregateId,
        status: 'conflict',
        version,
        events: [],
        error: {
          code: 'version_conflict',
          message: `expectedVersion ${envelope.expectedVersion} but the aggregate is at version ${version}; reload and retry`,
        },
      })
      return
    }

    const state = current === undefined ? decider.initialState() : current.state
    const issuedAt = issuedAtOf(envelope, record)
    const ctx: DecideContext = {
      aggregateId,
      commandId: envelope.commandId,
      version,
      issuedAt,
      metadata: envelope.metadata ?? {},
    }

    let newEvents: { type: string; payload: unknown }[]
    let newState = state
    let rejection: { code: string; message: string } | undefined
    try {
      const decision = decider.decide({ type: envelope.type, payload: d.payload } as never, state, ctx)
      if (isRejection(decision)) {
        rejection = { code: decision.code, message: decision.message }
        newEvents = []
      } else {
        newEvents = Array.isArray(decision) ? decision : [decision]
        for (const e of newEvents) {
          if (typeof e !== 'object' || e === null || !Object.hasOwn(decider.events, e.type)) {
            throw new InvalidDecisionError(
              `decide returned an event of unknown type "${String((e as { type?: unknown })?.type)}"; declare it in events`,
            )
          }
          newState = decider.evolve(newState, e as never)
        }
      }
    } catch (e) {
      this.handleDecideError(d, e, version, records, outcomes)
      return
    }

    const recordedAt = new Date(this.o.now()).toISOString()
    const eventRecords: OutputRecord[] = []
    const eventRefs: [string, number][] = []
    let v = version
    const correlationId = strOr(envelope.metadata?.correlationId, envelope.commandId)
    const causationId = strOr(envelope.metadata?.causationId, envelope.commandId)
    for (const e of newEvents) {
      v++
      eventRefs.push([e.type, v])
      const event: EventEnvelope = {
        eventId: `${aggregateId}@${v}`,
        type: e.type,
        aggregateId,
        version: v,
        payload: e.payload,
        commandId: envelope.commandId,
        correlationId,
        causationId,
        eventTime: issuedAt,
        recordedAt,
        schemaVersion: decider.schemaVersion,
      }
      eventRecords.push({
        topic: this.o.topics.events,
        partition: record.partition,
        key: aggregateId,
        value: encode(event, this.o.serialization),
        headers: this.contentTypeHeader,
      })
    }

    const status = rejection ? 'rejected' : 'accepted'
    const outcome: RememberedOutcome = {
      commandId: envelope.commandId,
      status,
      version: v,
      events: eventRefs,
      ...(rejection ? { error: rejection } : {}),
    }
    const next: SnapshotRecord = {
      aggregateId,
      version: v,
      state: newState,
      recent: remember(current?.recent ?? [], outcome, this.o.dedupeWindow),
      sourceOffset: record.offset,
    }
    // Encoded here, not at commit, to refuse a record the broker would refuse (message.max.bytes) for ever:
    // such a command fails alone instead of blocking the partition.
    const snapshotBytes = encode(next, this.o.serialization)
    const tooLarge = [snapshotBytes, ...eventRecords.map((r) => r.value!)].find((b) => b.length > this.o.maxRecordBytes)
    if (tooLarge !== undefined) {
      const message = `the command would write a ${tooLarge.length}-byte record (event or snapshot), above processing.maxRecordBytes ${this.o.maxRecordBytes}; keep aggregate state and events smaller`
      this.handleDecideError(d, new InvalidDecisionError(message), version, records, outcomes, 'record_too_large')
      return
    }
    records.push(...eventRecords)
    outcomes.events += newEvents.length
    outcomes.byStatus[status]++
    snapshots.set(aggregateId, next)
    dirty.set(aggregateId, next)
    dirtyBytes.set(aggregateId, snapshotBytes)
    this.stageReply(records, {
      commandId: envelope.commandId,
      aggregateId,
      status,
      version: v,
      events: eventRefs,
      ...(rejection ? { error: rejection } : {}),
    })
  }

  private handleDecideError(
    d: Extract<Decoded, { ok: true }>,
    e: unknown,
    version: number,
    records: OutputRecord[],
    outcomes: BatchOutcomes,
    reasonOverride?: DeadLetterReason,
  ): void {
    const invalidDecision = e instanceof InvalidDecisionError
    const message = `${invalidDecision ? '' : 'decide/evolve threw: '}${truncate(errorMessage(e), 500)}`
    if (this.o.onDecideError === 'stop') {
      throw new DecideFailedError(
        `command ${d.envelope.commandId} (${d.envelope.type}) on aggregate ${d.aggregateId} at offset ${d.record.offset}: ${message}. ` +
          `The topology's errors.onDecideError is "stop": fix the decider and restart; the command will be processed again.`,
        { cause: e },
      )
    }
    const reason: DeadLetterReason = reasonOverride ?? (invalidDecision ? 'invalid_decision' : 'decide_threw')
    outcomes.byStatus.failed++
    this.stageReply(records, {
      commandId: d.envelope.commandId,
      aggregateId: d.aggregateId,
      status: 'failed',
      version,
      events: [],
      error: { code: reason, message },
    })
    this.stageDeadLetter(records, d.record, reason, message, outcomes)
  }

  private stageInvalid(d: Extract<Decoded, { ok: false }>, records: OutputRecord[], outcomes: BatchOutcomes): void {
    outcomes.byStatus.invalid++
    if (d.commandId !== undefined) {
      this.stageReply(records, {
        commandId: d.commandId,
        aggregateId: d.aggregateId,
        status: 'invalid',
        version: 0,
        events: [],
        error: { code: d.reason, message: d.message },
      })
    }
    this.stageDeadLetter(records, d.record, d.reason, d.message, outcomes)
  }

  private stageReply(records: OutputRecord[], reply: ReplyEnvelope): void {
    records.push({
      topic: this.o.topics.replies,
      key: reply.commandId,
      value: encode(reply, this.o.serialization),
      headers: this.contentTypeHeader,
    })
  }

  private stageDeadLetter(
    records: OutputRecord[],
    r: InputRecord,
    reason: DeadLetterReason,
    message: string,
    outcomes: BatchOutcomes,
  ): void {
    outcomes.deadLetters[reason] = (outcomes.deadLetters[reason] ?? 0) + 1
    const headers: Record<string, string | Buffer> = {}
    for (const [k, v] of Object.entries(r.headers ?? {})) {
      const one = Array.isArray(v) ? v[0] : v
      if (one !== undefined && !k.startsWith('kd-')) headers[k] = one
    }
    headers[HEADERS.errorCode] = reason
    headers[HEADERS.errorMessage] = message
    headers[HEADERS.sourceTopic] = this.o.topics.commands
    headers[HEADERS.sourcePartition] = String(r.partition)
    headers[HEADERS.sourceOffset] = r.offset
    headers[HEADERS.topology] = this.o.topologyName
    records.push({ topic: this.o.topics.deadLetters, key: r.key, value: r.value, headers })
  }
}

function remember(recent: RememberedOutcome[], outcome: RememberedOutcome, window: number): RememberedOutcome[] {
  if (window === 0) return []
  const next = [outcome, ...recent]
  if (next.length > window) next.length = window
  return next
}

function issuedAtOf(envelope: CommandEnvelope, record: InputRecord): string {
  const issued = envelope.metadata?.issuedAt
  if (issued !== undefined) {
    const d = new Date(issued)
    if (!Number.isNaN(d.getTime())) return d.toISOString()
  }
  const ts = Number(record.timestamp)
  return new Date(Number.isFinite(ts) ? ts : 0).toISOString()
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

function strOr(v: unknown, fallback: string): string {
  return typeof v === 'string' && v.length > 0 ? v : fallback
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e)
}

function truncate(s: string, n: number): string {
  return s.length > n ? s.slice(0, n) + '…' : s
}
