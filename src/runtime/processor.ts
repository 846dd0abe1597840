/**
 * CommandProcessor: turns one batch of command records into staged outputs. Pure apart from the clock:
 * no Kafka, no LevelDB. The task (kafka) and the TopologyTestDriver (in memory) both run this code.
 *
 *   decode envelope ........ bad bytes / no key / unknown type / invalid payload -> 'invalid' + dead letter
 *                            (command-decoder.ts)
 *   dedupe by commandId .... seen in the aggregate's window -> 'duplicate' with the original outcome
 *   expectedVersion ........ mismatch -> 'conflict'
 *   decide ................. rejection -> 'rejected'; throws -> policy ('failed' + dead letter, or stop)
 *   evolve ................. new state, version + 1 per event; events, reply, snapshot staged (batch-outputs.ts)
 */
import { isRejection, type AnyDecider, type DecideContext } from '../domain/decider.ts'
import { encode, type Serialization } from '../domain/codec.ts'
import type {
  CommandEnvelope,
  EventEnvelope,
  RememberedOutcome,
  SnapshotRecord,
} from '../domain/envelopes.ts'
import { DecideFailedError, InvalidDecisionError } from '../errors.ts'
import type { TopicNames } from '../topology/schema.ts'
import { BatchOutputs, type BatchOutcomes } from './batch-outputs.ts'
import {
  decodeCommand,
  truncate,
  type Decoded,
  type DeadLetterReason,
  type KeyRoute,
} from './command-decoder.ts'
import type { InputRecord, OutputRecord, Partitioner } from './ports.ts'

export { emptyOutcomes, type BatchOutcomes } from './batch-outputs.ts'
export type { DeadLetterReason } from './command-decoder.ts'

export interface BatchResult {
  /** Events, replies and dead letters, in input order. */
  records: OutputRecord[]
  /** Snapshots changed by this batch (latest per aggregate). */
  snapshots: Map<string, SnapshotRecord>
  /** Their encoded changelog values, by aggregate id. */
  snapshotBytes: Map<string, Buffer>
  outcomes: BatchOutcomes
  /** Offsets of the batch's first and last input record (-1 for an empty batch). */
  firstOffset: bigint
  lastOffset: bigint
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
  /**
   * How producers route keys: the commands topic's partition count and the partitioner (Kafka's default, murmur2;
   * src/kafka/partitioner.ts, passed in: the runtime imports no adapter). A command on another partition than its
   * key's is refused (`misrouted`): its aggregate would get a second snapshot and version line there.
   */
  routing: { partitions: number; partitionOf: Partitioner }
}

export class CommandProcessor {
  private readonly route: KeyRoute

  constructor(private readonly o: ProcessorOptions) {
    const { partitions, partitionOf } = o.routing
    this.route = (key) => partitionOf(key, partitions)
  }

  /** Step 1: decode every record; returns the decoded batch and the aggregate ids whose snapshots it needs. */
  decodeBatch(records: readonly InputRecord[]): { decoded: Decoded[]; aggregateIds: Set<string> } {
    const decoded: Decoded[] = []
    const aggregateIds = new Set<string>()
    for (const r of records) {
      const d = decodeCommand(r, this.o.decider, this.route)
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
  processDecoded(
    decoded: readonly Decoded[],
    snapshots: Map<string, SnapshotRecord | undefined>,
  ): BatchResult {
    const out = new BatchOutputs(this.o)
    const dirty = new Map<string, SnapshotRecord>()
    const dirtyBytes = new Map<string, Buffer>()
    for (const d of decoded) {
      if (d.ok) this.processCommand(d, snapshots, dirty, dirtyBytes, out)
      else out.invalid(d)
    }
    return {
      records: out.records,
      snapshots: dirty,
      snapshotBytes: dirtyBytes,
      outcomes: out.outcomes,
      firstOffset: decoded[0]?.record.offset ?? -1n,
      lastOffset: decoded[decoded.length - 1]?.record.offset ?? -1n,
    }
  }

  private processCommand(
    d: Extract<Decoded, { ok: true }>,
    snapshots: Map<string, SnapshotRecord | undefined>,
    dirty: Map<string, SnapshotRecord>,
    dirtyBytes: Map<string, Buffer>,
    out: BatchOutputs,
  ): void {
    const { aggregateId, envelope, record } = d
    const { decider } = this.o
    const current = snapshots.get(aggregateId)
    const version = current?.version ?? 0

    const remembered = current?.recent.find((c) => c.commandId === envelope.commandId)
    if (remembered !== undefined) {
      out.outcomes.byStatus.duplicate++
      out.reply({
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
      out.outcomes.byStatus.conflict++
      out.reply({
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
      this.handleDecideError(d, e, version, out)
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
        headers: out.contentTypeHeader,
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
      sourceOffset: record.offset.toString(),
    }
    // Encoded here, not at commit, to refuse a record the broker would refuse (message.max.bytes) for ever:
    // such a command fails alone instead of blocking the partition.
    const snapshotBytes = encode(next, this.o.serialization)
    const tooLarge = [snapshotBytes, ...eventRecords.map((r) => r.value!)].find(
      (b) => b.length > this.o.maxRecordBytes,
    )
    if (tooLarge !== undefined) {
      const message = `the command would write a ${tooLarge.length}-byte record (event or snapshot), above processing.maxRecordBytes ${this.o.maxRecordBytes}; keep aggregate state and events smaller`
      this.handleDecideError(d, new InvalidDecisionError(message), version, out, 'record_too_large')
      return
    }
    out.records.push(...eventRecords)
    out.outcomes.events += newEvents.length
    out.outcomes.byStatus[status]++
    snapshots.set(aggregateId, next)
    dirty.set(aggregateId, next)
    dirtyBytes.set(aggregateId, snapshotBytes)
    out.reply({
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
    out: BatchOutputs,
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
    out.outcomes.byStatus.failed++
    out.reply({
      commandId: d.envelope.commandId,
      aggregateId: d.aggregateId,
      status: 'failed',
      version,
      events: [],
      error: { code: reason, message },
    })
    out.deadLetter(d.record, reason, message)
  }
}

function remember(
  recent: RememberedOutcome[],
  outcome: RememberedOutcome,
  window: number,
): RememberedOutcome[] {
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

function strOr(v: unknown, fallback: string): string {
  return typeof v === 'string' && v.length > 0 ? v : fallback
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e)
}
