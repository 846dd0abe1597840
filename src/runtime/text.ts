/** Text of outputs: messages built from anything a `throw` can throw. */

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
