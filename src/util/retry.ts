/**
 * The one retry loop: bounded by a number of tries and/or a deadline, with a doubling delay. Callers say which
 * errors are worth another try; anything else is thrown at once, as is the last error when the bound is hit.
 */
import { setTimeout as sleep } from 'node:timers/promises'

export interface RetryOptions {
  /** Which errors are worth another try. */
  retriable: (e: unknown) => boolean
  /** At most this many calls of fn (default: unbounded, then `timeoutMs` must be set). */
  tries?: number
  /** Stop retrying once this much time has passed since the first call. */
  timeoutMs?: number
  /** First delay; doubles after each try up to maxDelayMs. */
  initialDelayMs: number
  maxDelayMs: number
}

export async function retry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  if (o.tries === undefined && o.timeoutMs === undefined)
    throw new RangeError('retry needs tries or timeoutMs (every loop is bounded)')
  const deadline = o.timeoutMs === undefined ? Infinity : Date.now() + o.timeoutMs
  for (let attempt = 1, delay = o.initialDelayMs; ; attempt++, delay = Math.min(delay * 2, o.maxDelayMs)) {
    try {
      return await fn(attempt)
    } catch (e) {
      const exhausted = (o.tries !== undefined && attempt >= o.tries) || Date.now() + delay > deadline
      if (exhausted || !o.retriable(e)) throw e
      await sleep(delay)
    }
  }
}
