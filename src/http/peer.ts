/**
 * One JSON read from another worker, for the answers a worker assembles itself (a list of views across the
 * partitions' owners, the event positions of a command's reply): the request carries x-decider-forwarded, so the
 * owner answers from its own tasks or refuses (503 not_owner), never forwards it again. Bounded by `timeoutMs`.
 * Relaying a request as it came (status, headers, streamed body) is forward.ts's job, not this one's.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { FORWARDED_BY_HEADER, FORWARDED_HEADER, RETRY_AFTER_MS } from './routing.ts'

export interface PeerAnswer {
  status: number
  body: Record<string, unknown>
}

/**
 * How this worker talks to other workers over HTTPS: the CA it trusts for their certificates (default: the
 * system's) and the certificate it presents itself (its own http.tls cert: owners that ask for client
 * certificates map it to permissions like any client's).
 */
export interface PeerTls {
  ca?: Buffer
  cert?: Buffer
  key?: Buffer
}

export interface PeerRequestOptions {
  self: string
  timeoutMs: number
  /** The caller's Authorization header, passed on: the owner checks the caller's permission. */
  authorization?: string | undefined
  tls?: PeerTls | undefined
}

/** Reads `pathAndQuery` from the worker at `url` (its advertised URL). */
export type PeerGet = (url: string, pathAndQuery: string, o: PeerRequestOptions) => Promise<PeerAnswer>

/** An owner's answer is read up to this size (a page of views or events is far smaller). */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024

/**
 * The default PeerGet, over node:http(s). The owner not reached, or not answering within timeoutMs, is an answer
 * too: 503 owner_unreachable / 504 forward_timeout, as forward.ts words them.
 */
export const peerGet: PeerGet = async (url, pathAndQuery, o) => {
  let target: URL
  try {
    target = new URL(pathAndQuery, url)
  } catch {
    return unreachable(`the owner's advertised URL ${JSON.stringify(url)} is not a URL`)
  }
  const headers: Record<string, string> = {
    [FORWARDED_HEADER]: '1',
    [FORWARDED_BY_HEADER]: o.self,
    accept: 'application/json',
    ...(o.authorization !== undefined ? { authorization: o.authorization } : {}),
  }
  let answer: { status: number; text: string }
  try {
    answer = await new Promise((resolve, reject) => {
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest
      const req = send(
        target,
        { method: 'GET', headers, ...tlsOptions(target, o.tls) },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = []
          let size = 0
          res.on('data', (c: Buffer) => {
            size += c.length
            if (size > MAX_ANSWER_BYTES)
              req.destroy(new Error(`its answer is above ${MAX_ANSWER_BYTES} bytes`))
            else chunks.push(c)
          })
          res.once('end', () =>
            resolve({ status: res.statusCode ?? 502, text: Buffer.concat(chunks).toString('utf8') }),
          )
          res.once('error', reject)
          res.once('aborted', () => reject(new Error('its answer broke off')))
        },
      )
      const timer = setTimeout(
        () => req.destroy(Object.assign(new Error('timeout'), { name: 'TimeoutError' })),
        o.timeoutMs,
      )
      req.once('close', () => clearTimeout(timer))
      req.once('error', reject)
      req.end()
    })
  } catch (e) {
    const err = e as Error
    if (err.name === 'TimeoutError')
      return {
        status: 504,
        body: {
          error: `the owner ${url} did not answer within ${o.timeoutMs} ms; try again`,
          code: 'forward_timeout',
          retryAfterMs: RETRY_AFTER_MS,
        },
      }
    return unreachable(`the owner ${url} cannot be reached: ${err.message}`)
  }
  try {
    const body = JSON.parse(answer.text) as unknown
    if (typeof body === 'object' && body !== null && !Array.isArray(body))
      return { status: answer.status, body: body as Record<string, unknown> }
  } catch {
    // not JSON: below
  }
  return {
    status: 502,
    body: {
      error: `the owner ${url} answered HTTP ${answer.status} without a JSON object: ${answer.text.trim().slice(0, 200)}`,
      code: 'bad_owner_answer',
    },
  }
}

/** The TLS options of a request to another worker (only for https targets). */
export function tlsOptions(target: URL, tls: PeerTls | undefined): Record<string, Buffer> {
  if (target.protocol !== 'https:' || tls === undefined) return {}
  return {
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.cert !== undefined && tls.key !== undefined ? { cert: tls.cert, key: tls.key } : {}),
  }
}

function unreachable(error: string): PeerAnswer {
  return {
    status: 503,
    body: { error: `${error}; try again`, code: 'owner_unreachable', retryAfterMs: RETRY_AFTER_MS },
  }
}
