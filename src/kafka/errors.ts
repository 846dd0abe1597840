/** Classifies kafkajs errors by the recovery they need (see src/errors.ts). */
import { retry } from '../util/retry.ts'

const FENCED_TYPES = new Set([
  'INVALID_PRODUCER_EPOCH',
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_ID_MAPPING',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
])

export function* causes(e: unknown): Generator<Record<string, unknown>> {
  let cur: unknown = e
  for (let depth = 0; depth < 6 && typeof cur === 'object' && cur !== null; depth++) {
    const rec = cur as Record<string, unknown>
    yield rec
    cur = rec.cause ?? rec.originalError
  }
}

export function kafkaErrorType(e: unknown): string | undefined {
  for (const c of causes(e)) if (typeof c.type === 'string') return c.type
  return undefined
}

export function isFencingError(e: unknown): boolean {
  for (const c of causes(e)) {
    if (typeof c.type === 'string' && FENCED_TYPES.has(c.type)) return true
  }
  return false
}

/**
 * Errors of AddOffsetsToTxn / TxnOffsetCommit, and of AddPartitionsToTxn sent on its own (transactional-producer.ts),
 * that kafkajs does not retry although a retry is safe (the transaction stays open): its retry list names error types it never produces (e.g. NOT_COORDINATOR
 * instead of NOT_COORDINATOR_FOR_GROUP). Seen on every fresh broker while __consumer_offsets loads.
 */
const TXN_STEP_RETRIABLE = new Set([
  'CONCURRENT_TRANSACTIONS',
  'NOT_COORDINATOR_FOR_GROUP',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_NOT_AVAILABLE',
  'REQUEST_TIMED_OUT',
])

export function isTxnStepRetriable(e: unknown): boolean {
  for (const c of causes(e)) if (typeof c.type === 'string' && TXN_STEP_RETRIABLE.has(c.type)) return true
  return false
}

const METADATA_RETRIABLE = new Set([
  'NOT_LEADER_FOR_PARTITION',
  'LEADER_NOT_AVAILABLE',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'NOT_COORDINATOR_FOR_GROUP',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'REQUEST_TIMED_OUT',
])

/**
 * Retries admin reads that fail while metadata catches up (fresh topics, leader moves); kafkajs' admin
 * gives up on some of these at once. Bounded: 10 tries, 100 ms doubling to 1 s.
 */
export function retryMetadata<T>(fn: () => Promise<T>): Promise<T> {
  const retriable = (e: unknown) => METADATA_RETRIABLE.has(kafkaErrorType(e) ?? '')
  return retry(fn, { retriable, tries: 10, initialDelayMs: 100, maxDelayMs: 1000 })
}
