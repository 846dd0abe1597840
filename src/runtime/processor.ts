/**
 * CommandProcessor: turns one batch of command records into staged outputs. Pure apart from the clock:
 * no Kafka, no LevelDB. The task (kafka) and the TopologyTestDriver (in memory) both run this code.
 *
 *   decode envelope ........ bad bytes / no key / unknown type / invalid payload / schema threw -> 'invalid' +
 *                            dead letter (command-decoder.ts)
 *   dedupe by commandId .... seen in the aggregate's window -> 'duplicate' with the original outcome
 *   expectedVersion ........ mismatch -> 'conflict'
 *   time ................... issuedAt or record timestamp not a time -> 'invalid' (invalid_timestamp)
 *   initialState, decide ... rejection -> 'rejected'; throws -> policy ('failed' + dead letter, or stop)
 *   evolve ................. new state, version + 1 per event (command-guard.ts)
 *   data contract .......... event payloads and the new state must be plain data (domain/plain-data.ts)
 *   size ................... every event, snapshot and reply within maxRecordBytes (batch-outputs.ts)
 *   staged ................. events, reply, snapshot (batch-outputs.ts); every reply carries the partition and
 *                            offset of the command record it answers (kd-source-partition, kd-source-offset)
 *
 * Anything one command throws fails that command alone ('failed' + dead letter; under `stop`, the worker stops):
 * never the batch, which would be retried for ever.
 */
import { eventVersionOf, stateVersionOf, type DecideContext } from '../domain/decider.ts'
import { encode } from '../domain/codec.ts'
import { nextSnapshot } from '../domain/snapshot-bytes.ts'
import { snapshotBytesOf } from '../domain/snapshot-slots.ts'
import {
  HEADERS,
  type EventEnvelope,
  type RememberedOutcome,
  type ReplyEnvelope,
  type SnapshotRecord,
} from '../domain/envelopes.ts'
import { PLAIN_DATA_RULE, PlainDataGuard } from '../domain/plain-data.ts'
import type { OutcomeEncoding } from '../domain/outcome-codec.ts'
import type { AnyDecider } from '../domain/decider.ts'
import type { Serialization } from '../domain/codec.ts'
import { DecideFailedError, EventNotPlainError, RecordTooLargeError, StateNotPlainError } from '../errors.ts'
import type { TopicNames } from '../topology/schema.ts'
import { BatchOutputs, headersBytes, oversize, type BatchOutcomes } from './batch-outputs.ts'
import { decodeCommand, truncate, type Decoded, type KeyRoute } from './command-decoder.ts'
import { decideAndEvolve, failureOf, initialStateOf, isoOf, issuedAtOf } from './command-guard.ts'
import { EventRecord, type InputRecord, type OutputRecord, type Partitioner } from './ports.ts'
import { describeThrown } from './text.ts'

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
  /** How the window's outcomes are written with msgpack (topology dedupe.outcomes). */
  outcomeEncoding?: OutcomeEncoding
  onDecideError: 'fail-command' | 'stop'
  /** Largest record (event, snapshot, reply, dead letter) a batch may write (below the broker's message.max.bytes). */
  maxRecordBytes: number
  /** Wall clock for `recordedAt`; injected so tests are deterministic. */
  now: () => number
  /**
   * How producers route keys: the commands topic's partition count and the partitioner (Kafka's default, murmur2;
   * src/kafka/partitioner.ts, passed in: the runtime imports no adapter). A command on another partition than its
   * key's is refused (`misrouted`): its aggregate would get a second snapshot and version line there.
   */
  routing: { partitions: number; partitionOf: Partitioner }
  /** See OutputOptions.repliesPartitions. */
  repliesPartitions?: number
}

export class CommandProcessor {
  private readonly route: KeyRoute
  /** Remembers the state objects it checked (frozen), so a state is walked only where a command changed it. */
  private readonly plain = new PlainDataGuard()

  constructor(private readonly o: ProcessorOptions) {
    const { partitions, partitionOf } = o.routing
    this.route = (key) => partitionOf(key, partitions)
  }

  /** Step 1: decode every record; returns the decoded batch and the aggregate ids whose snapshots it needs. */
  decodeBatch(records: readonly InputRecord[]): { decoded: Decoded[]; aggregateIds: Set<string> } {
    const decoded: Decoded[] = []
    const aggregateIds = new Set<string>()
    for (const r of records) {
      const d = decodeSafely(r, this.o.decider, this.route)
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
      if (!d.ok) {
        out.invalid(d)
        continue
      }
      const staged = out.records.length
      try {
        this.processCommand(d, snapshots, dirty, dirtyBytes, out)
      } catch (e) {
        if (e instanceof DecideFailedError) throw e
        // Whatever this command threw fails it alone; the batch goes on (a throw escaping here would retry the
        // batch for ever or crash the consumer).
        out.records.length = staged
        this.fail(d, e, snapshots.get(d.aggregateId)?.version ?? 0, out)
      }
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

    const remembered = current === undefined ? undefined : rememberedOf(current, envelope.commandId)
    if (remembered !== undefined) {
      out.outcomes.byStatus.duplicate++
      out.reply(
        {
          commandId: envelope.commandId,
          aggregateId,
          status: 'duplicate',
          version: remembered.version,
          events: remembered.events,
          originalStatus: remembered.status,
          ...(remembered.error ? { error: remembered.error } : {}),
        },
        record,
      )
      return
    }

    if (envelope.expectedVersion !== undefined && envelope.expectedVersion !== version) {
      out.outcomes.byStatus.conflict++
      out.reply(
        {
          commandId: envelope.commandId,
          aggregateId,
          status: 'conflict',
          version,
          events: [],
          error: {
            code: 'version_conflict',
            message: `expectedVersion ${envelope.expectedVersion} but the aggregate is at version ${version}; reload and retry`,
          },
        },
        record,
      )
      return
    }

    // Everything up to the staging below may throw; it throws errors of the command (command-guard.ts), which
    // processDecoded turns into this command's 'failed' or 'invalid' outcome. Nothing is staged before.
    const issuedAt = issuedAtOf(envelope, record)
    const state = current === undefined ? initialStateOf(decider) : current.state
    // Verified (and frozen) once: the initial state, a state loaded from the store; then instant.
    checkState(this.plain, state, current === undefined ? 'initialState()' : 'state')
    const ctx: DecideContext = {
      aggregateId,
      commandId: envelope.commandId,
      version,
      issuedAt,
      metadata: envelope.metadata ?? {},
    }
    const decision = decideAndEvolve(decider, { type: envelope.type, payload: d.payload }, state, ctx)
    const { events: newEvents, rejection } = decision
    checkPlain(this.plain, newEvents, decision.state)

    const recordedAt = isoOf(this.o.now())
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
        schemaVersion: eventVersionOf(decider, e.type),
      }
      if (e.correction !== undefined) Object.assign(event, e.correction)
      const r = new EventRecord(
        this.o.topics.events,
        record.partition,
        aggregateId,
        encode(event, this.o.serialization),
        out.contentTypeHeader,
        v,
      )
      this.checkSize(aggregateId, r.value.length, out.contentTypeBytes, `event ${e.type}`)
      eventRecords.push(r)
    }

    const status = rejection ? 'rejected' : 'accepted'
    // (No object spreads on this path: it runs for every command.)
    const outcome: RememberedOutcome = {
      commandId: envelope.commandId,
      status,
      version: v,
      events: eventRefs,
    }
    if (rejection) outcome.error = rejection
    // Encoded here, not at commit, to refuse a record the broker would refuse (message.max.bytes) for ever:
    // such a command fails alone instead of blocking the partition. The changelog record as commit.ts builds it.
    // The window is the outcome, then current's (snapshot-bytes.ts: with msgpack it stays in the bytes).
    const { snapshot: next, bytes: snapshotBytes } = nextSnapshot(
      {
        aggregateId,
        version: v,
        state: decision.state,
        sourceOffset: record.offset.toString(),
        stateVersion: stateVersionOf(decider),
      },
      outcome,
      current,
      this.o.dedupeWindow,
      this.o.serialization,
      this.o.outcomeEncoding,
    )
    const changelogHeaderBytes =
      out.contentTypeBytes + CHANGELOG_OFFSET_HEADER_BYTES + next.sourceOffset.length
    this.checkSize(aggregateId, snapshotBytes.length, changelogHeaderBytes, 'snapshot')
    const replyEnvelope: ReplyEnvelope = {
      commandId: envelope.commandId,
      aggregateId,
      status,
      version: v,
      events: eventRefs,
    }
    if (rejection) replyEnvelope.error = rejection
    const reply = out.replyRecord(replyEnvelope, record, false)
    if (reply === undefined) this.tooLarge(undefined, 'reply')

    // Staging: nothing below throws.
    for (const r of eventRecords) out.records.push(r)
    out.outcomes.events += newEvents.length
    out.outcomes.byStatus[status]++
    snapshots.set(aggregateId, next)
    dirty.set(aggregateId, next)
    dirtyBytes.set(aggregateId, snapshotBytes)
    out.records.push(reply!)
  }

  /** Throws RecordTooLargeError when the record is above maxRecordBytes. */
  private checkSize(key: string, valueBytes: number, headerBytes: number, what: string): void {
    const bytes = oversize(key, valueBytes, headerBytes, this.o.maxRecordBytes)
    if (bytes > 0) this.tooLarge(bytes, what)
  }

  private tooLarge(bytes: number | undefined, what: string): never {
    throw new RecordTooLargeError(
      `the ${what} record would be ${bytes === undefined ? 'too large' : `${bytes} bytes`}, above processing.maxRecordBytes ${this.o.maxRecordBytes}; keep aggregate state and events smaller`,
    )
  }

  /** A command that threw: 'failed' (or 'invalid') reply and dead letter, or the `stop` policy for 'failed'. */
  private fail(d: Extract<Decoded, { ok: true }>, e: unknown, version: number, out: BatchOutputs): void {
    const f = failureOf(e)
    if (f.status === 'failed' && this.o.onDecideError === 'stop') {
      throw new DecideFailedError(
        `command ${d.envelope.commandId} (${d.envelope.type}) on aggregate ${truncate(d.aggregateId, 200)} at offset ${d.record.offset}: ${f.reason}: ${f.message}. ` +
          `The topology's errors.onDecideError is "stop": fix the decider and restart; the command will be processed again.`,
        { cause: e },
      )
    }
    out.refused(f.status, d.record, d.envelope.commandId, d.aggregateId, version, f.reason, f.message)
  }
}

/** The changelog record's kd-source-offset header (commit.ts), without its value (the offset's digits). */
const CHANGELOG_OFFSET_HEADER_BYTES = headersBytes({ [HEADERS.sourceOffset]: '' })

/**
 * The data contract (src/domain/plain-data.ts) on the command's event payloads and its new state. The guard skips
 * what it verified before (a state unchanged by the command, the parts a new state shares with the previous one).
 */
function checkPlain(guard: PlainDataGuard, events: readonly { payload: unknown }[], state: unknown): void {
  for (let i = 0; i < events.length; i++) {
    const problem = guard.transientProblem(events[i]!.payload, `events[${i}].payload`)
    if (problem !== undefined) throw new EventNotPlainError(`${problem}; an event payload ${PLAIN_DATA_RULE}`)
  }
  checkState(guard, state, 'state')
}

function checkState(guard: PlainDataGuard, state: unknown, root: string): void {
  const problem = guard.problem(state, root)
  if (problem !== undefined) throw new StateNotPlainError(`${problem}; state ${PLAIN_DATA_RULE}`)
}

/** decodeCommand, and if it throws anyway (a bug), a dead letter rather than a batch that never passes. */
function decodeSafely(r: InputRecord, decider: AnyDecider, route: KeyRoute): Decoded {
  try {
    return decodeCommand(r, decider, route)
  } catch (e) {
    return {
      ok: false,
      record: r,
      reason: 'processing_failed',
      message: `decoding the command failed: ${truncate(describeThrown(e), 500)}`,
      aggregateId: '',
    }
  }
}

/**
 * The outcome `current` remembers for `commandId`. A msgpack string is its UTF-8 bytes, so a commandId absent from the
 * snapshot's encoded bytes is not in its window: one native search of those bytes (contiguous) instead of comparing
 * with each remembered commandId (objects spread over the heap), which took ~5% of a worker's time with full windows.
 */
function rememberedOf(current: SnapshotRecord, commandId: string): RememberedOutcome | undefined {
  const bytes = snapshotBytesOf(current)
  if (bytes !== undefined) {
    const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
    if (b.indexOf(commandId) === -1) return undefined
  }
  const recent = current.recent // (decoded from the bytes only here: a possible duplicate)
  for (let i = 0; i < recent.length; i++) if (recent[i]!.commandId === commandId) return recent[i]
  return undefined
}

function strOr(v: unknown, fallback: string): string {
  return typeof v === 'string' && v.length > 0 ? v : fallback
}
