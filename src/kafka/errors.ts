/** Classifies kafkajs errors by the recovery they need (see domain/errors.ts). */

const FENCED_TYPES = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED'])

function* causes(e: unknown): Generator<Record<string, unknown>> {
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

export function isConcurrentTransactions(e: unknown): boolean {
  for (const c of causes(e)) if (c.type === 'CONCURRENT_TRANSACTIONS') return true
  return false
}
