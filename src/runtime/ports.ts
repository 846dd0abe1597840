/**
 * The I/O ports a task needs. Kafka implementations live in src/kafka; in-memory twins in src/testing.
 */
import type { OutputRecord } from './processor.ts'
import type { SnapshotStore } from '../state/store.ts'

/** One open transaction of a task's transactional producer. */
export interface OpenTransaction {
  /** Sends all records in one request; returns the base offset written to the given co-partitioned topic. */
  send(records: OutputRecord[], baseOffsetOf: { topic: string; partition: number }): Promise<string | undefined>
  /** Adds the consumer offset (next offset to read) of the input partition to the transaction. */
  sendOffsets(nextInputOffset: string): Promise<void>
  commit(): Promise<void>
  abort(): Promise<void>
}

export interface TransactionalProducer {
  /** InitProducerId: fences any older producer with the same transactional id and ends its open transaction. */
  init(): Promise<void>
  begin(): Promise<OpenTransaction>
  close(): Promise<void>
}

export interface ChangelogRecord {
  offset: string
  key: string | null
  value: Buffer | null
}

export interface ChangelogReader {
  /** The end of the partition; called only when no transaction can be open on it (see KafkaChangelogReader). */
  endOffset(): Promise<string>
  /** Reads [from, to) in order, calling onRecords per fetched chunk. Bounded by `timeoutMs`. */
  read(from: string, to: string, onRecords: (records: ChangelogRecord[]) => Promise<void>, timeoutMs: number): Promise<void>
}

export interface TaskPorts {
  createProducer(): TransactionalProducer
  /** The group's committed offset (next offset to read) of the input partition, undefined when none. */
  readCommittedOffset(): Promise<string | undefined>
  changelog: ChangelogReader
  openStore(): Promise<SnapshotStore>
}
