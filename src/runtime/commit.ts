/**
 * The commit sequence of one batch: read top to bottom, it explains exactly-once.
 *
 * Everything a batch causes — events, replies, dead letters, snapshots, the offset marker, and the
 * consumer offset — is written in ONE Kafka transaction, so a read_committed reader sees all of it or
 * none of it. The local LevelDB store is written only after the commit returned, so it is always a prefix
 * of the committed changelog: a crash at any point needs no wipe, only a replay of the changelog tail.
 */
import { CONTENT_TYPES, encode, type Serialization } from '../domain/codec.ts'
import { HEADERS, OFFSET_MARKER_KEY, type OffsetMarker } from '../domain/envelopes.ts'
import {
  AbortFailedError,
  BatchAbortedError,
  StoreBehindError,
  TaskCommitUnknownError,
  TaskFencedError,
} from '../errors.ts'
import type { Checkpoint, SnapshotStore, StoredSnapshot } from '../state/store.ts'
import type { OutputRecord, TopicPartition, TransactionalProducer } from './ports.ts'
import { batchIndex } from './event-index.ts'
import type { BatchResult } from './processor.ts'

export interface CommitContext {
  producer: TransactionalProducer
  store: SnapshotStore
  changelogTopic: string
  /** The events topic: its records of the batch go into the event index (event-index.ts). */
  eventsTopic: string
  partition: number
  serialization: Serialization
  /** The checkpoint before this batch: kept when the changelog position cannot be known. */
  previous: Checkpoint
  /**
   * Whether the input offset joins this transaction. Without it, the offset marker in the changelog (always written)
   * is what a new owner resumes after; the group's committed offset catches up with a later transaction.
   */
  commitsInputOffset: boolean
}

export async function commitBatch(
  c: CommitContext,
  batch: BatchResult,
  steps?: TransactionSteps,
): Promise<Checkpoint> {
  const changelog = changelogRecords(c, batch)

  // 1-3. One transaction: everything the batch caused, the offset marker, and (when due) the input offset
  //      (last + 1), commit.
  const [changelogBase, eventsBase] = await writeTransaction(
    c.producer,
    [...batch.records, ...changelog],
    c.commitsInputOffset ? batch.lastOffset + 1n : undefined,
    [
      { topic: c.changelogTopic, partition: c.partition },
      { topic: c.eventsTopic, partition: c.partition },
    ],
    steps,
  )

  // 4. Only now the local store: the batch's snapshots, its events in the index and the checkpoint, in one
  //    atomic LevelDB batch. The changelog (events) position after this batch is its base offset + the records
  //    we wrote to it.
  const index = batchIndex(batch.records, c.eventsTopic, eventsBase, c.previous)
  const checkpoint: Checkpoint = {
    changelogOffset:
      changelogBase === undefined ? c.previous.changelogOffset : changelogBase + BigInt(changelog.length),
    inputOffset: batch.lastOffset,
    ...(index.eventsOffset === undefined ? {} : { eventsOffset: index.eventsOffset }),
  }
  const storeStarted = performance.now()
  try {
    await c.store.write(storeValues(c, batch), checkpoint, index.events)
  } catch (e) {
    throw new StoreBehindError(
      `committed to Kafka but the local store write failed: ${(e as Error).message}`,
      { cause: e },
    )
  }
  if (steps !== undefined) steps.store = (performance.now() - storeStarted) / 1000
  // 5. The caller now moves the task's position on (the offset is committed with the transaction) and the
  //    cache takes the snapshots.
  return checkpoint
}

/**
 * What the store keeps of the batch's snapshots: with msgpack, the changelog values themselves (the store's codec is
 * the same msgpack; restore.ts copies changelog values into the store as they are too), so no snapshot is encoded
 * twice. With JSON on the topics, the store encodes its own.
 */
function storeValues(c: CommitContext, batch: BatchResult): Iterable<StoredSnapshot> {
  if (c.serialization !== 'msgpack') return batch.snapshots.values()
  const out: StoredSnapshot[] = []
  for (const [aggregateId, bytes] of batch.snapshotBytes) out.push({ aggregateId, bytes })
  return out
}

function changelogRecords(c: CommitContext, batch: BatchResult): OutputRecord[] {
  const contentType = CONTENT_TYPES[c.serialization]
  const headers = { [HEADERS.contentType]: contentType }
  const out: OutputRecord[] = []
  for (const s of batch.snapshots.values()) {
    // Literal keys (the type ties them to HEADERS): a spread with a computed key cost ~1% of a worker's CPU.
    const snapshotHeaders: Record<typeof HEADERS.contentType | typeof HEADERS.sourceOffset, string> = {
      'content-type': contentType,
      'kd-source-offset': s.sourceOffset,
    }
    out.push({
      topic: c.changelogTopic,
      partition: c.partition,
      key: s.aggregateId,
      value: batch.snapshotBytes.get(s.aggregateId)!, // encoded (and size-checked) by the processor
      headers: snapshotHeaders,
    })
  }
  // The offset marker: the last input offset of this transaction, so a new owner can resume after it even
  // when the group's committed offset it reads is stale (OffsetFetch without require_stable), or older than this
  // transaction (the input offset is committed with only some transactions: processing.offsetCommitIntervalMs).
  const marker: OffsetMarker = { marker: 'input-offset', inputOffset: batch.lastOffset.toString() }
  out.push({
    topic: c.changelogTopic,
    partition: c.partition,
    key: OFFSET_MARKER_KEY,
    value: encode(marker, c.serialization),
    headers,
  })
  return out
}

/**
 * Steps 1-3 of every task's commit (decider, projection, router): one transaction holding `records` and the input
 * offset `nextInputOffset` (undefined: none), committed. Returns the base offsets of what it wrote to `baseOffsetsOf` (undefined
 * where nothing). Throws TaskFencedError (another owner), BatchAbortedError (aborted: redo the batch),
 * AbortFailedError or TaskCommitUnknownError (re-initialise: the outcome is Kafka's to say).
 */
export async function writeTransaction(
  producer: TransactionalProducer,
  records: OutputRecord[],
  nextInputOffset: bigint | undefined,
  baseOffsetsOf: readonly TopicPartition[],
  steps?: TransactionSteps,
): Promise<(bigint | undefined)[]> {
  const t0 = performance.now()
  // 1. Begin a transaction on the task's own producer (transactional.id = <app>-<input topic>-<partition>).
  const txn = await producer.begin()
  let bases: (bigint | undefined)[]
  try {
    // 2. Everything the batch caused, and the input offset (or its marker), join the transaction together: input is
    //    consumed iff the output exists. One write: fewer round trips, one produce request per partition leader (the adapter
    //    decides the order its client needs).
    bases = await txn.write(records, nextInputOffset, baseOffsetsOf)
  } catch (e) {
    // Not committed: abort so read_committed readers never see the partial output. A fenced producer
    // cannot abort (and need not: the new owner's InitProducerId aborted it already).
    if (e instanceof TaskFencedError) throw e
    try {
      await txn.abort()
    } catch (abortError) {
      throw new AbortFailedError(
        `transaction failed (${(e as Error).message}) and its abort failed too: ${(abortError as Error).message}`,
        { cause: e },
      )
    }
    throw new BatchAbortedError(`transaction aborted: ${(e as Error).message}`, { cause: e })
  }

  // 3. Commit. If this throws without a fencing error, the outcome is unknown: the caller re-initialises
  //    the producer (InitProducerId completes or aborts it) and re-reads offsets and changelog.
  const t1 = performance.now()
  try {
    await txn.commit()
  } catch (e) {
    if (e instanceof TaskFencedError) throw e
    throw new TaskCommitUnknownError(`commit outcome unknown: ${(e as Error).message}`, { cause: e })
  }
  if (steps !== undefined) {
    const written = txn.writeSeconds?.() ?? { offsets: 0, produce: (t1 - t0) / 1000 }
    steps.offsets = written.offsets
    steps.produce = written.produce
    steps.commit = (performance.now() - t1) / 1000
    steps.other = Math.max(0, (t1 - t0) / 1000 - written.offsets - written.produce)
  }
  return bases
}

/**
 * Where one transaction's time went, in seconds: adding the input offset (AddOffsetsToTxn, FindCoordinator,
 * TxnOffsetCommit), producing the records (AddPartitionsToTxn, Produce), committing (EndTxn), and the rest (begin);
 * then, for a decider batch, writing the local store after the commit.
 */
export interface TransactionSteps {
  offsets: number
  produce: number
  commit: number
  other: number
  store: number
}

export const noSteps = (): TransactionSteps => ({ offsets: 0, produce: 0, commit: 0, other: 0, store: 0 })
