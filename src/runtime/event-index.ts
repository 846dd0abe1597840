/**
 * The task's side of the event index (state/event-index.ts): what a committed batch adds to it, and its restore
 * from the events topic.
 *
 * Why the index is always a prefix of the committed events topic partition: the task is the only writer of its
 * events partition (transactional id <app>-<commands>-<partition>; a zombie is fenced before the new owner
 * writes), so a transaction's events there are contiguous from the base offset the produce response gave; the
 * entries and `eventsOffset` (base + count) are written with the snapshots and the checkpoint in one LevelDB batch
 * after the commit. A crash before that write leaves the store at the previous checkpoint; the restore reads the
 * events partition from `eventsOffset` to its end, read_committed (aborted events never reach the index).
 */
import { decode } from '../domain/codec.ts'
import type { EventEnvelope } from '../domain/envelopes.ts'
import { StoreBehindError } from '../errors.ts'
import { indexEntries, type IndexedEvent } from '../state/event-index.ts'
import type { Checkpoint, SnapshotStore } from '../state/store.ts'
import { EventRecord, type ChangelogReader, type ChangelogRecord, type OutputRecord } from './ports.ts'

/** The index entries a committed batch adds, and the events checkpoint after it. */
export function batchIndex(
  records: readonly OutputRecord[],
  eventsTopic: string,
  eventsBase: bigint | undefined,
  previous: Checkpoint,
): { events: IndexedEvent[]; eventsOffset: bigint | undefined } {
  const written = records.filter((r) => r.topic === eventsTopic)
  if (written.length === 0) return { events: [], eventsOffset: previous.eventsOffset }
  if (eventsBase === undefined)
    // Cannot happen with a complete produce response (the adapter checks it); if it did, the restore knows.
    throw new StoreBehindError(
      `committed ${written.length} event(s) but the events partition's base offset is unknown; restoring the index from the events topic`,
    )
  // The processor's records say their aggregate and version; any other is decoded (indexEntries).
  const events = written.every(isEventRecord)
    ? written.map((r, i) => ({
        aggregateId: r.key,
        version: r.version,
        offset: eventsBase + BigInt(i),
        value: r.value,
      }))
    : indexEntries(
        written.map((r) => r.value!),
        eventsBase,
      )
  return { events, eventsOffset: eventsBase + BigInt(written.length) }
}

function isEventRecord(r: OutputRecord): r is EventRecord {
  return r instanceof EventRecord
}

export interface IndexRestoreResult {
  checkpoint: Checkpoint
  /** Events-topic records read (0 when the index was current). */
  records: number
  /** The index's checkpoint before, and the events partition's end. */
  trace: { eventsOffset: bigint; eventsEnd: bigint }
}

/**
 * Brings the index up to the committed events partition, after the snapshot restore (`checkpoint` is its result:
 * its changelog and input offsets are kept). The end is read after InitProducerId, when no transaction of the
 * partition's only writer can be open, so it is the end of the committed events; chunk by chunk, each with the
 * checkpoint in one atomic write (a crash mid-restore resumes after the last chunk). O(events since the checkpoint).
 */
export async function restoreIndex(
  store: SnapshotStore,
  events: ChangelogReader,
  start: Checkpoint,
  o: { timeoutMs: number; onSkipped?: (offset: bigint, why: string) => void; signal?: AbortSignal },
): Promise<IndexRestoreResult> {
  let checkpoint = { ...start, eventsOffset: start.eventsOffset ?? 0n }
  const end = await events.endOffset()
  const trace = { eventsOffset: checkpoint.eventsOffset, eventsEnd: end }
  let records = 0
  // As for the changelog: the checkpoint points just after our last event; the marker after it is not data.
  if (end > checkpoint.eventsOffset + 1n) {
    await events.read(
      checkpoint.eventsOffset,
      end,
      async (chunk) => {
        o.signal?.throwIfAborted()
        const entries: IndexedEvent[] = []
        for (const r of chunk) {
          const entry = entryOf(r)
          if (typeof entry === 'string') o.onSkipped?.(r.offset, entry)
          else entries.push(entry)
        }
        records += chunk.length
        checkpoint = { ...checkpoint, eventsOffset: chunk[chunk.length - 1]!.offset + 1n }
        await store.write([], checkpoint, entries)
      },
      o.timeoutMs,
    )
  }
  return { checkpoint, records, trace }
}

/** The index entry of an events-topic record, or why it has none (a record no worker wrote: never fatal). */
function entryOf(r: ChangelogRecord): IndexedEvent | string {
  if (r.value === null) return 'no value'
  let e: Partial<EventEnvelope> | undefined
  try {
    e = decode(r.value) as Partial<EventEnvelope> | undefined
  } catch {
    return 'not decodable'
  }
  if (typeof e?.aggregateId !== 'string' || typeof e.version !== 'number' || e.aggregateId !== r.key)
    return 'not an event envelope of its key'
  return { aggregateId: e.aggregateId, version: e.version, offset: r.offset, value: r.value }
}
