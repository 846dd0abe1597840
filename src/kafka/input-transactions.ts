/**
 * read_committed for the command consumer, decided from the transaction markers (transactions.ts says why not by
 * kafkajs' filter): one PartitionInput per input partition, started at every seek the task manager makes and
 * dropped at every assignment.
 *
 * Two positions per partition:
 * - the fetch position (`next`): the first offset not yet fed to the filter. The consumer fetches from there, so
 *   a transaction held open never makes it re-read what it has seen, and the marker that decides it is found
 *   however many records lie between;
 * - the task's position (the next offset it processes, and the offset it commits): never past a held record.
 *
 * A record is handed to the task once it is committed (its producer's COMMIT marker was fed, or it was written
 * outside a transaction) AND every record before it is decided. A committed record behind an open transaction
 * waits for it: the task gets records in offset order and the offset it commits (last + 1) never passes a record
 * that may still commit. So every record below the task's position is decided, and a PartitionInput started at
 * that position (or below it) misses nothing: a marker whose data lies before its start decides records that
 * were processed or dropped already. That is why a seek (a retry from the batch start, an assignment, a task
 * that became RUNNING) simply starts a fresh one: what it held is fetched again.
 */
import { TransactionFilter, type LogRecord } from './transactions.ts'

const byOffset = (a: LogRecord, b: LogRecord) => (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1)

export class PartitionInput {
  private readonly filter = new TransactionFilter()
  /** Committed records waiting behind an undecided one, in offset order. */
  private waiting: LogRecord[] = []
  /** Last offset handed to the task; -1 before any. */
  private lastDelivered = -1n
  private refetching = false
  /** Re-fetches (after a fetch of markers alone) in a row that brought nothing new. */
  futileRefetches = 0

  /** Starts reading at `from`: every record below it must be decided (it is the task's position or below). */
  constructor(from: bigint) {
    if (from > 0n) this.filter.skipTo(from - 1n)
  }

  /** The first offset not fed yet: a fetch must start at or before it (a later start would skip records). */
  get next(): bigint {
    return this.filter.position + 1n
  }

  /** The first offset held back (its transaction is undecided); committed records after it wait too. */
  get firstHeld(): bigint | undefined {
    return this.filter.firstUndecided
  }

  /** Records of the partition's transactions without a marker yet. */
  get undecided(): number {
    return this.filter.undecided
  }

  /** Feeds one fetch (offset order; offsets fed before are ignored). Returns what the task gets now, in offset order. */
  push(records: readonly LogRecord[]): LogRecord[] {
    const before = this.next
    const released = this.filter.push(records)
    if (this.refetching) {
      this.refetching = false
      this.futileRefetches = this.next === before ? this.futileRefetches + 1 : 0
    }
    if (released.length === 0 && this.waiting.length === 0) return []
    const ready = this.waiting.length === 0 ? released : [...this.waiting, ...released].sort(byOffset)
    const held = this.filter.firstUndecided
    const cut = held === undefined ? ready.length : ready.findIndex((r) => BigInt(r.offset) > held)
    const out = cut < 0 ? ready : ready.slice(0, cut)
    this.waiting = cut < 0 ? [] : ready.slice(cut)
    if (out.length > 0) this.lastDelivered = BigInt(out[out.length - 1]!.offset)
    return out
  }

  /**
   * kafkajs fetched only markers, [first, last] (it then skips eachBatch and moves its own position past them).
   * Returns the offset to fetch again from, or undefined when the markers need not be read: already fed, or
   * nothing is undecided (then they are skipped). Undecided records need them: fetch again from the last data
   * record, so that the fetch carries a record and kafkajs hands it, markers included, to eachBatch.
   */
  markersOnly(first: bigint, last: bigint): bigint | undefined {
    if (last < this.next) return undefined
    if (first > this.next) return this.next // a gap before them (a fetch from a stale position): read it
    if (this.filter.undecided === 0) {
      this.filter.skipTo(last)
      return undefined
    }
    this.refetching = true
    return this.filter.lastDataOffset
  }

  /**
   * The partition's position for lag, given the task's next offset: past the aborted records and markers the
   * filter has passed once the task processed everything it was handed; the task's own offset otherwise.
   */
  position(taskNext: bigint): bigint {
    if (taskNext <= this.lastDelivered) return taskNext
    const passed = this.firstHeld ?? this.next
    return passed > taskNext ? passed : taskNext
  }
}
