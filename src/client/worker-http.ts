/**
 * One read from a worker's HTTP API, shared by the clients (EventStoreClient, ViewClient): any worker answers (it
 * forwards to the owner of the partition). A 503 with a retry hint (the group rebalancing, the owner's task
 * restoring) or a 429 (the worker at http.maxConcurrent) is asked again, all within `timeoutMs`; any answer `accept`
 * does not take is a WorkerReadError with the HTTP status and the worker's code (401/403: the token). With `token`,
 * each request carries `Authorization: Bearer <token>` (README "Security").
 */
import { WorkerReadError } from '../errors.ts'

export interface WorkerAnswer {
  status: number
  body: Record<string, unknown>
}

export async function workerGet(
  url: string,
  pathAndQuery: string,
  o: {
    timeoutMs: number
    /** Answers taken as they are (default: 200 only). */
    accept?: (status: number, body: Record<string, unknown>) => boolean
    /** A bearer token of the worker's http.auth (read permission). */
    token?: string | undefined
  },
): Promise<WorkerAnswer> {
  const base = url.endsWith('/') ? url : `${url}/`
  const accept = o.accept ?? ((status) => status === 200)
  const deadline = Date.now() + o.timeoutMs
  /** The refusal a retry was made after: what the caller learns if time runs out during the retry. */
  let refused: WorkerReadError | undefined
  for (;;) {
    let res: Response
    try {
      res = await fetch(new URL(pathAndQuery, base), {
        signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
        ...(o.token !== undefined ? { headers: { authorization: `Bearer ${o.token}` } } : {}),
      })
    } catch (e) {
      const err = e as Error & { cause?: { message?: string } }
      if (refused !== undefined && err.name === 'TimeoutError') throw refused
      const why =
        err.name === 'TimeoutError'
          ? `no answer within ${o.timeoutMs} ms`
          : (err.cause?.message ?? err.message)
      throw new WorkerReadError(`cannot reach the worker at ${base}: ${why}`, { cause: e })
    }
    const text = await res.text()
    let body: Record<string, unknown> | undefined
    try {
      const parsed = JSON.parse(text) as unknown
      body =
        typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
          ? (parsed as Record<string, unknown>)
          : undefined
    } catch {
      body = undefined
    }
    if (body !== undefined && accept(res.status, body)) return { status: res.status, body }
    const retryAfterMs =
      (res.status === 503 || res.status === 429) &&
      typeof body?.retryAfterMs === 'number' &&
      body.retryAfterMs > 0
        ? Math.min(body.retryAfterMs, 5_000)
        : undefined
    const error = typeof body?.error === 'string' ? body.error : undefined
    const e = new WorkerReadError(
      `worker ${base}: ${error ?? `HTTP ${res.status}: ${text.trim().slice(0, 200)} (a worker without this endpoint?)`}`,
    )
    e.status = res.status
    e.reason = typeof body?.code === 'string' ? body.code : undefined
    if (retryAfterMs !== undefined && Date.now() + retryAfterMs < deadline) {
      refused = e
      await new Promise((r) => setTimeout(r, retryAfterMs))
      continue
    }
    throw e
  }
}
