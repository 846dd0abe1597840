/**
 * The ports of the runtime: what a task and the task manager need from the outside, in the runtime's own terms
 * (offsets are bigint here; adapters convert at their boundary). Kafka + LevelDB implementations live in
 * src/kafka and src/state; in-memory twins in src/testing.
 */
import type { EventEnvelope } from '../domain/envelopes.ts'
import type { SnapshotStore } from '../state/store.ts'

export type HeaderValue = Buffer | string | (Buffer | string)[] | undefined

/** One fetched record of the commands topic. */
export interface InputRecord {
  partition: number
  offset: bigint
  key: Buffer | null
  value: Buffer | null
  headers?: Record<string, HeaderValue>
  /** Record timestamp, epoch ms as a string (as Kafka clients hand it out). */
  timestamp: string
}

/**
 * The partition a keyed record goes to among `partitions`, as producers pick it: Kafka's default partitioner
 * (Java's murmur2, kafkajs' DefaultPartitioner). src/kafka/partitioner.ts implements it.
 */
export type Partitioner = (key: Buffer, partitions: number) => number

/** One record a task writes inside its transaction. */
export interface OutputRecord {
  topic: string
  /** Set for co-partitioned topics (events, changelog) and for replies (their command's input partition, see
   * OutputOptions.repliesPartitions); dead letters use the key's partition. */
  partition?: number
  key: string | Buffer | null
  value: Buffer | null
  headers: Record<string, string | Buffer>
}

/**
 * An event's output record as the processor makes it: also says which aggregate version it is, so the event index
 * of a committed batch (event-index.ts) does not decode the value again to learn it.
 */
export class EventRecord implements OutputRecord {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly key: string,
    readonly value: Buffer,
    readonly headers: Record<string, string | Buffer>,
    readonly version: number,
  ) {}
}

export interface TopicPartition {
  topic: string
  partition: number
}

/** One open transaction of a task's transactional producer. */
export interface OpenTransaction {
  /**
   * Adds the batch to the transaction: all its records, and the consumer offset (next offset to read) of the
   * input partition (undefined: no input consumed, e.g. a rebuild), in whatever order the client needs. Returns,
   * for each of `baseOffsetsOf` (co-partitioned topic partitions: changelog, events), the base offset of what this
   * transaction wrote there, undefined where it wrote nothing.
   */
  write(
    records: OutputRecord[],
    nextInputOffset: bigint | undefined,
    baseOffsetsOf: readonly TopicPartition[],
  ): Promise<(bigint | undefined)[]>
  commit(): Promise<void>
  abort(): Promise<void>
  /** Seconds the last write() spent adding the input offset, and producing the records (for metrics; optional). */
  writeSeconds?(): { offsets: number; produce: number }
}

export interface TransactionalProducer {
  /** InitProducerId: fences any older producer with the same transactional id and ends its open transaction. */
  init(): Promise<void>
  /**
   * Whether a transaction with records may leave the input offset out (write() with nextInputOffset undefined)
   * without risking an aborted batch; known after init(). A decider task then commits its input offset with only some
   * of its transactions (processing.offsetCommitIntervalMs).
   */
  readonly offsetsOptional: boolean
  begin(): Promise<OpenTransaction>
  close(): Promise<void>
}

export interface ChangelogRecord {
  offset: bigint
  key: string | null
  value: Buffer | null
}

export interface ChangelogReader {
  /** The end of the partition; called only when no transaction can be open on it (after InitProducerId). */
  endOffset(): Promise<bigint>
  /** Reads [from, to) in order, calling onRecords per fetched chunk. Bounded by `timeoutMs`. */
  read(
    from: bigint,
    to: bigint,
    onRecords: (records: ChangelogRecord[]) => Promise<void>,
    timeoutMs: number,
  ): Promise<void>
}

/** What a task needs, per input partition. */
export interface TaskPorts {
  createProducer(): TransactionalProducer
  /** The group's committed offset (next offset to read) of the input partition, undefined when none. */
  readCommittedOffset(): Promise<bigint | undefined>
  changelog: ChangelogReader
  /** The events topic partition of the task (co-partitioned with the commands): the event index restores from it. */
  events: ChangelogReader
  openStore(): Promise<SnapshotStore>
}

/**
 * The events of one aggregate of the task's partition: committed, as recorded (not upcast), in version order. The
 * task answers it from its event index (to rebuild a stale snapshot, stale-snapshots.ts).
 */
export interface AggregateEvents {
  eventsOf(aggregateId: string): Promise<EventEnvelope[]>
}

/** What the task manager needs of the consumer: position control of the input partitions. */
export interface ConsumerControl {
  pause(partitions: readonly number[]): void
  resume(partitions: readonly number[]): void
  /** The next fetch of `partition` starts at `offset`. */
  seek(partition: number, offset: bigint): void
}
