/**
 * Restore (Kafka Streams' StoreChangelogReader): brings a task's snapshot store up to the committed changelog.
 * The store's checkpoint says where it stopped; the changelog from there to its end is replayed into the store,
 * chunk by chunk, each chunk with its checkpoint in one atomic write (a crash mid-restore resumes from the last
 * chunk, nothing is wiped). Offset markers in the changelog raise the checkpoint's input offset: the task resumes
 * input after the last offset a committed transaction consumed.
 *
 * A msgpack snapshot goes into the store as the bytes the changelog holds (the store keeps msgpack too), without a
 * decode and re-pack per record: most of what a restore used to spend its CPU and garbage on. JSON snapshots (a
 * topology with `serialization: json`) are decoded and stored as msgpack.
 */
import { decode } from '../domain/codec.ts'
import {
  isReservedKey,
  OFFSET_MARKER_KEY,
  type OffsetMarker,
  type SnapshotRecord,
} from '../domain/envelopes.ts'
import type { Checkpoint, SnapshotStore, StoredSnapshot } from '../state/store.ts'
import type { ChangelogReader, ChangelogRecord } from './ports.ts'

export interface RestoreResult {
  checkpoint: Checkpoint
  /** Changelog records replayed (0 when the store was current). */
  records: number
  /** The store's checkpoint before, and the changelog end: what the resume offset is derived from. */
  trace: { storeCheckpoint: Checkpoint; changelogEnd: bigint }
}

export async function restoreStore(
  store: SnapshotStore,
  changelog: ChangelogReader,
  o: {
    timeoutMs: number
    progress?: (remaining: number) => void
    /** Stops the restore between two chunks (each chunk is written with its checkpoint: nothing is half done). */
    signal?: AbortSignal
  },
): Promise<RestoreResult> {
  let checkpoint = (await store.readCheckpoint()) ?? { changelogOffset: 0n, inputOffset: -1n }
  const end = await changelog.endOffset()
  const trace = { storeCheckpoint: { ...checkpoint }, changelogEnd: end }
  const remaining = () => Math.max(0, Number(end - checkpoint.changelogOffset))
  let records = 0
  o.progress?.(remaining())
  // The checkpoint points just after our last data record; the transaction marker after it is not data.
  if (end > checkpoint.changelogOffset + 1n) {
    let inputOffset = checkpoint.inputOffset
    await changelog.read(
      checkpoint.changelogOffset,
      end,
      async (chunk) => {
        o.signal?.throwIfAborted()
        const snapshots: StoredSnapshot[] = []
        for (const r of chunk) {
          if (r.value === null) continue
          if (r.key !== null && isReservedKey(r.key)) {
            const marked = markerOffset(r)
            if (marked !== undefined && marked > inputOffset) inputOffset = marked
          } else {
            snapshots.push(storedSnapshot(r))
          }
        }
        records += chunk.length
        // The index's position (eventsOffset) is kept: dropping it made the index restore start over from 0.
        checkpoint = { ...checkpoint, changelogOffset: chunk[chunk.length - 1]!.offset + 1n, inputOffset }
        await store.write(snapshots, checkpoint)
        o.progress?.(remaining())
      },
      o.timeoutMs,
    )
  }
  o.progress?.(0)
  return { checkpoint, records, trace }
}

/** A changelog snapshot record as the store keeps it: msgpack bytes as they are, anything else decoded. */
function storedSnapshot(r: ChangelogRecord): StoredSnapshot {
  const value = r.value!
  // A msgpack map (fixmap 0x80-0x8f, map16 0xde, map32 0xdf) keyed by the aggregate id is stored as it is.
  const first = value[0]!
  const msgpackMap = (first >= 0x80 && first <= 0x8f) || first === 0xde || first === 0xdf
  if (msgpackMap && r.key !== null) return { aggregateId: r.key, bytes: value }
  return decode(value) as SnapshotRecord
}

/**
 * The input offset an offset marker carries. Undefined for every other record of the reserved key space: not a
 * snapshot either (no command reaches that space), e.g. another tool's marker, or the snapshot an older worker
 * wrote for a command keyed with the marker key (restore used to throw on it for ever).
 */
function markerOffset(r: ChangelogRecord): bigint | undefined {
  if (r.key !== OFFSET_MARKER_KEY || r.value === null) return undefined
  let m: Partial<OffsetMarker> | undefined
  try {
    m = decode(r.value) as Partial<OffsetMarker> | undefined
  } catch {
    return undefined
  }
  const offset = m?.marker === 'input-offset' ? m.inputOffset : undefined
  return typeof offset === 'string' && /^\d+$/.test(offset) ? BigInt(offset) : undefined
}
