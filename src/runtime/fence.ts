/**
 * What a fence during a commit means. Another owner's InitProducerId fences the task's producer; so does the
 * coordinator when it aborts a transaction open longer than the transaction timeout (it bumps the producer's
 * epoch: the next call fails with INVALID_PRODUCER_EPOCH, the same error). Both are handled alike (the task closes,
 * a fresh one starts while the partition is ours), but a timeout is the task fencing itself, and a batch that
 * always takes that long would loop: the time the transaction was open tells them apart, for the report.
 */
import { TransactionTimedOutError } from '../errors.ts'

export interface TimeoutReport {
  err: TransactionTimedOutError
  /** Log fields and message: what happened and what to change. */
  fields: Record<string, unknown>
  message: string
}

/** The report of a transaction that timed out, or undefined when the fence came within the timeout. */
export function transactionTimeout(
  cause: unknown,
  openMs: number,
  commands: number,
  p: { transactionTimeoutMs: number; maxBatchCommands: number },
): TimeoutReport | undefined {
  if (openMs < p.transactionTimeoutMs) return undefined
  const err = new TransactionTimedOutError(
    `transaction of ${commands} commands open ${openMs} ms, longer than processing.transactionTimeoutMs (${p.transactionTimeoutMs} ms)`,
    { cause },
  )
  return {
    err,
    fields: { err, openMs, transactionTimeoutMs: p.transactionTimeoutMs, commands },
    message:
      'transaction timed out: the coordinator aborted it and fenced this task although the partition is still ' +
      'its own; the task restarts and redoes the batch. If this repeats, raise processing.transactionTimeoutMs ' +
      `or lower processing.maxBatchCommands (now ${p.maxBatchCommands}), or find what blocks the event loop`,
  }
}
