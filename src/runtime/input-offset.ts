/**
 * When a decider task's input offset goes to the group (processing.offsetCommitIntervalMs).
 *
 * Every transaction of a decider task writes an offset marker to the changelog, and a new owner resumes at
 * max(committed offset, marker + 1), so resuming exactly never needs the group's committed offset; what reads it is
 * lag tools, the bench and operators. So a transaction carries it at most once per interval: the others save two of
 * their five round trips (AddOffsetsToTxn, TxnOffsetCommit) and the broker's work on them and on the offsets topic's
 * transaction marker. A partition that goes quiet with its offset behind commits it in a transaction of its own
 * (`flush`), `quietMs` after its last transaction; after failed flushes the wait doubles, up to 5 s.
 */

/** A partition whose input offset is behind commits it this long after its last transaction. */
export const OFFSET_FLUSH_QUIET_MS = 100

export interface InputOffsetScheduleOptions {
  /** processing.offsetCommitIntervalMs: 0 puts the offset into every transaction. */
  intervalMs: number
  /** Quiet time before a flush (default OFFSET_FLUSH_QUIET_MS). */
  quietMs?: number
  /** Starts the task's offsets-only transaction (queued behind its batch in flight). */
  flush: () => void
  /** Monotonic milliseconds (default performance.now). */
  now?: () => number
}

export class InputOffsetSchedule {
  /** The offset the group has committed as far as the task knows, and when the task last committed one. */
  private groupOffset: bigint | undefined
  private committedAt = -Infinity
  private timer: NodeJS.Timeout | undefined
  private failures = 0
  private readonly now: () => number
  private readonly quietMs: number

  constructor(private readonly o: InputOffsetScheduleOptions) {
    this.now = o.now ?? (() => performance.now())
    this.quietMs = o.quietMs ?? OFFSET_FLUSH_QUIET_MS
  }

  /** After (re)initialisation: the group's committed offset as the task read it. */
  reset(committed: bigint | undefined): void {
    this.groupOffset = committed
    this.committedAt = -Infinity
    this.failures = 0
  }

  /** Whether the next transaction carries the input offset (always when the producer cannot leave it out). */
  due(offsetsOptional: boolean): boolean {
    if (this.o.intervalMs === 0 || !offsetsOptional) return true
    return this.now() - this.committedAt >= this.o.intervalMs
  }

  /** A committed transaction carried `next` as the group's offset; `at` is when it started. */
  committed(next: bigint, at = this.now()): void {
    this.groupOffset = next
    this.committedAt = at
    this.failures = 0
  }

  /** Whether the group's committed offset is behind `next`, the task's position. */
  behind(next: bigint): boolean {
    return this.groupOffset === undefined ? next > 0n : this.groupOffset < next
  }

  /**
   * After a transaction without the offset, or a resume after the marker: flush once the partition has been quiet for
   * `quietMs` (every later transaction restarts the wait), if the offset is still behind `next` then.
   */
  arm(next: bigint): void {
    if (!this.behind(next)) return
    if (this.timer !== undefined && this.failures === 0) {
      this.timer.refresh()
      return
    }
    clearTimeout(this.timer)
    const delay = Math.min(this.quietMs * 2 ** Math.min(this.failures, 6), Math.max(this.quietMs, 5000))
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.o.flush()
    }, delay)
    this.timer.unref()
  }

  /** A flush failed: the next wait is longer. */
  failed(): void {
    this.failures++
  }

  /** No flush any more (the task closes). */
  cancel(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }
}
