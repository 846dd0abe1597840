/**
 * Text of outputs: messages built from anything a `throw` can throw, and strings cut to a number of UTF-8 bytes
 * (records are bounded in bytes, see batch-outputs.ts).
 */

/** A message for anything a `throw` can throw; never throws itself (a getter, a toString or a Proxy may). */
export function describeThrown(e: unknown): string {
  try {
    if (e instanceof Error) {
      const name: unknown = e.name
      const message: unknown = e.message
      return `${typeof name === 'string' ? name : 'Error'}: ${typeof message === 'string' ? message : safeString(message)}`
    }
    return `a non-Error value was thrown: ${safeString(e)}`
  } catch {
    return 'a value was thrown that cannot be described'
  }
}

export function safeString(v: unknown): string {
  try {
    return typeof v === 'string' ? JSON.stringify(v) : String(v)
  } catch {
    return `a ${v === null ? 'null' : typeof v} without a string form`
  }
}

/** `s` cut to at most `maxBytes` UTF-8 bytes, ending with '…' when cut (never splits a character). */
export function truncateUtf8(s: string, maxBytes: number): string {
  // Fast path: a UTF-16 unit is at most 3 UTF-8 bytes.
  if (s.length * 3 <= maxBytes || Buffer.byteLength(s) <= maxBytes) return s
  if (maxBytes < 3) return ''
  let cut = Buffer.from(s)
    .subarray(0, maxBytes - 3)
    .toString('utf8')
  // A character cut in half decodes as U+FFFD at the end: drop it.
  while (cut.endsWith('\uFFFD')) cut = cut.slice(0, -1)
  return cut + '…'
}
