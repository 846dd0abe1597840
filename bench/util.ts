/** Small helpers of the bench: sleep, a monotonic clock in ms, and a bounded wait on a promise. */

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
export const now = () => performance.now()

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>(
        (_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: no result within ${ms} ms`)), ms)),
      ),
    ])
  } finally {
    clearTimeout(timer)
  }
}
