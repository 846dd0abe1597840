/** The TopologyTestDriver's public types, its crashable store, and how it reads outputs back from the MemoryLog. */
import { withOutcomes } from '../domain/outcome-codec.ts'
import type { Logger } from 'pino'
import { decode } from '../domain/codec.ts'
import type { MessageOf, SchemaMap } from '../domain/decider.ts'
import { HEADERS, isReservedKey, type CommandEnvelope, type SnapshotRecord } from '../domain/envelopes.ts'
import { SimulatedCrash } from '../errors.ts'
import type { IndexedEvent } from '../state/event-index.ts'
import { MemorySnapshotStore, type Checkpoint, type StoredSnapshot } from '../state/store.ts'
import type { TopologyInput } from '../topology/schema.ts'
import type { MemoryFaults } from './memory-faults.ts'
import type { MemoryLog, StoredRecord } from './memory-log.ts'

/** Where a simulated crash happens, in the order of the commit sequence (src/runtime/commit.ts). */
export type CrashPoint =
  /** Transaction begun, nothing sent. */
  | 'before-send'
  /** Events, replies and snapshots sent (in the open transaction), input offsets not yet. */
  | 'before-send-offsets'
  /** Everything sent, the transaction not committed. */
  | 'before-commit'
  /** The transaction committed in Kafka, the local store not written. */
  | 'after-commit'

export interface DriverCommand<CM extends SchemaMap = SchemaMap> {
  aggregateId: string
  type: MessageOf<CM>['type']
  payload: unknown
  commandId?: string
  expectedVersion?: number
  metadata?: CommandEnvelope['metadata']
}

/** A command typed by the decider's schemas: `{ aggregateId, type, payload }` with the payload of that type. */
export type TypedDriverCommand<CM extends SchemaMap> = MessageOf<CM> &
  Omit<DriverCommand<CM>, 'type' | 'payload'>

export interface DeadLetter {
  partition: number
  offset: string
  key: string | null
  value: Buffer | null
  errorCode: string | undefined
  errorMessage: string | undefined
  sourcePartition: number | undefined
  sourceOffset: string | undefined
  /** Every header of the dead letter (the original record's and the kd-* error headers), as strings. */
  headers: Record<string, string>
}

export interface TopologyTestDriverOptions {
  /** Topology settings for a decider given in code (name defaults to "test"; partitions to 1). */
  definition?: Partial<TopologyInput>
  /** Start of the driver's clock (epoch ms); default 2024-01-01T00:00:00Z. */
  startTime?: number
  logger?: Logger
  /**
   * Start over this log instead of an empty one: what an earlier driver (e.g. an older version of the decider)
   * committed, as a new deployment over the same topics would (fresh stores: the tasks restore the changelog).
   * Record timestamps keep following the clock of the driver that created the log.
   */
  log?: MemoryLog
}

/** The snapshot store of one partition; a crash can be armed to hit its next write. */
export class CrashableStore extends MemorySnapshotStore {
  crashNextWrite: (() => void) | undefined
  override async write(
    snapshots: Iterable<StoredSnapshot>,
    checkpoint: Checkpoint,
    events?: readonly IndexedEvent[],
  ): Promise<void> {
    const crash = this.crashNextWrite
    if (crash) {
      this.crashNextWrite = undefined
      crash()
    }
    return super.write(snapshots, checkpoint, events)
  }
}

/** Arms a crash of a task at `point` of its next commit: its producer's faults, or its store's next write. */
export function armCrash(point: CrashPoint, faults: MemoryFaults, store: CrashableStore): void {
  const die = (): never => {
    // After the crash the task must not do anything more: its abort and re-initialisation fail too.
    faults.failNext('abort', new SimulatedCrash(`crashed at ${point}`))
    faults.failNext('init', new SimulatedCrash(`crashed at ${point}`))
    throw new SimulatedCrash(`crashed at ${point}`)
  }
  if (point === 'before-send') faults.beforeNext('send', die)
  else if (point === 'before-send-offsets') faults.beforeNext('sendOffsets', die)
  else if (point === 'before-commit') faults.beforeNext('commit', die)
  else store.crashNextWrite = die
}

/** Committed dead letters of a topic with their error headers. */
export function readDeadLetters(log: MemoryLog, topic: string): DeadLetter[] {
  const h = (r: StoredRecord, k: string) => r.headers[k]?.toString()
  return log.readAll(topic).map((r) => ({
    partition: r.partition,
    offset: r.offset,
    key: r.key?.toString() ?? null,
    value: r.value,
    errorCode: h(r, HEADERS.errorCode),
    errorMessage: h(r, HEADERS.errorMessage),
    sourcePartition:
      h(r, HEADERS.sourcePartition) === undefined ? undefined : Number(h(r, HEADERS.sourcePartition)),
    sourceOffset: h(r, HEADERS.sourceOffset),
    headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v.toString()])),
  }))
}

/** The latest committed changelog snapshot per aggregate of the given partitions (what a restore would hold). */
export function latestSnapshots(
  log: MemoryLog,
  changelog: string,
  partitions: readonly number[],
): Map<string, SnapshotRecord> {
  const out = new Map<string, SnapshotRecord>()
  for (const p of partitions) {
    for (const r of log.read(changelog, p)) {
      const key = r.key?.toString()
      if (key === undefined || isReservedKey(key)) continue
      if (r.value === null) out.delete(key)
      else
        out.set(
          key,
          withOutcomes(decode(r.value, r.headers[HEADERS.contentType]?.toString()) as SnapshotRecord),
        )
    }
  }
  return out
}
