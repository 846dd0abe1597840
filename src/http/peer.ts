/**
 * One JSON read from another worker, for the answers a worker assembles itself (a list of views across the
 * partitions' owners, the event positions of a command's reply): the request carries x-decider-forwarded, so the
 * owner answers from its own tasks or refuses (503 not_owner), never forwards it again. Bounded by `timeoutMs`.
 * Relaying a request as it came (status, headers, streamed body) is forward.ts's job, not this one's.
 */
import { FORWARDED_BY_HEADER, FORWARDED_HEADER, RETRY_AFTER_MS } from './routing.ts'

export interface PeerAnswer {
  status: number
  body: Record<string, unknown>
}

/** Reads `pathAndQuery` from the worker at `url` (its advertised URL). */
export type PeerGet = (
  url: string,
  pathAndQuery: string,
  o: { self: string; timeoutMs: number },
) => Promise<PeerAnswer>

/**
 * The default PeerGet, over fetch. The owner not reached, or not answering within timeoutMs, is an answer too:
 * 503 owner_unreachable / 504 forward_timeout, as forward.ts words them.
 */
export const peerGet: PeerGet = async (url, pathAndQuery, o) => {
  let target: URL
  try {
    target = new URL(pathAndQuery, url)
  } catch {
    return unreachable(`the owner's advertised URL ${JSON.stringify(url)} is not a URL`)
  }
  let res: Response
  try {
    res = await fetch(target, {
      headers: { [FORWARDED_HEADER]: '1', [FORWARDED_BY_HEADER]: o.self, accept: 'application/json' },
      signal: AbortSignal.timeout(o.timeoutMs),
    })
  } catch (e) {
    const err = e as Error & { cause?: { message?: string } }
    if (err.name === 'TimeoutError')
      return {
        status: 504,
        body: {
          error: `the owner ${url} did not answer within ${o.timeoutMs} ms; try again`,
          code: 'forward_timeout',
          retryAfterMs: RETRY_AFTER_MS,
        },
      }
    return unreachable(`the owner ${url} cannot be reached: ${err.cause?.message ?? err.message}`)
  }
  let text: string
  try {
    text = await res.text()
  } catch (e) {
    return unreachable(`the answer of the owner ${url} broke off: ${(e as Error).message}`)
  }
  try {
    const body = JSON.parse(text) as unknown
    if (typeof body === 'object' && body !== null && !Array.isArray(body))
      return { status: res.status, body: body as Record<string, unknown> }
  } catch {
    // not JSON: below
  }
  return {
    status: 502,
    body: {
      error: `the owner ${url} answered HTTP ${res.status} without a JSON object: ${text.trim().slice(0, 200)}`,
      code: 'bad_owner_answer',
    },
  }
}

function unreachable(error: string): PeerAnswer {
  return {
    status: 503,
    body: { error: `${error}; try again`, code: 'owner_unreachable', retryAfterMs: RETRY_AFTER_MS },
  }
}
