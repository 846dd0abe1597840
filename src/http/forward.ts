/**
 * Forwards one read to the worker that owns its aggregate and relays the answer as it comes (status, headers and
 * body, streamed). The forwarded request carries x-decider-forwarded (the owner never forwards it again) and
 * x-decider-forwarded-by; the owner's own x-decider-answered-by header and `answeredBy` field come back unchanged.
 * Bounded: no response headers within `timeoutMs` -> 504 forward_timeout; a refused or broken connection ->
 * 503 owner_unreachable (both tell the router, which drops its view of the group).
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { tlsOptions, type PeerTls } from './peer.ts'
import { ANSWERED_BY_HEADER, FORWARDED_BY_HEADER, FORWARDED_HEADER, RETRY_AFTER_MS } from './routing.ts'

/**
 * Request headers worth passing on; everything else (cookies, hop-by-hop) stays here. Authorization goes on: the
 * owner checks the caller's permission itself (auth.ts).
 */
const PASSED_REQUEST_HEADERS = ['accept', 'accept-encoding', 'if-none-match', 'user-agent', 'authorization']
/** Hop-by-hop response headers (RFC 9110 7.6.1) are this connection's, not the owner's. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection'])

export interface ForwardOptions {
  /** The owner's base URL (its advertised URL). */
  ownerUrl: string
  /** This worker's name, sent as x-decider-forwarded-by. */
  self: string
  timeoutMs: number
  /** The owner did not answer (the caller drops its cached view of the group). */
  onOwnerFailed?: () => void
  /** The owner answered 503 (e.g. it no longer owns the partition): the view of the group is stale too. */
  onOwnerUnavailable?: () => void
  /** The CA to trust and the certificate to present to an https owner (http.tls). */
  tls?: PeerTls | undefined
}

export function forward(req: IncomingMessage, res: ServerResponse, o: ForwardOptions): Promise<void> {
  return new Promise<void>((resolve) => {
    let target: URL
    try {
      target = new URL(req.url ?? '/', o.ownerUrl)
    } catch {
      failed(
        res,
        o.self,
        503,
        'owner_unreachable',
        `the owner's advertised URL ${JSON.stringify(o.ownerUrl)} is not a URL`,
      )
      o.onOwnerFailed?.()
      return resolve()
    }
    const headers: Record<string, string> = { [FORWARDED_HEADER]: '1', [FORWARDED_BY_HEADER]: o.self }
    for (const h of PASSED_REQUEST_HEADERS) {
      const v = req.headers[h]
      if (typeof v === 'string') headers[h] = v
    }
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest
    let answered = false
    const upstream = send(target, { method: req.method, headers, ...tlsOptions(target, o.tls) }, (owner) => {
      answered = true
      clearTimeout(timer)
      if (owner.statusCode === 503) o.onOwnerUnavailable?.()
      const relayed: Record<string, string | string[]> = {}
      for (const [k, v] of Object.entries(owner.headers))
        if (v !== undefined && !HOP_BY_HOP.has(k)) relayed[k] = v
      relayed[FORWARDED_BY_HEADER] = o.self
      res.writeHead(owner.statusCode ?? 502, relayed)
      owner.pipe(res)
      owner.once('end', resolve)
      owner.once('error', () => {
        res.destroy() // the body broke off mid-way: the client must see a broken answer, not a short one
        resolve()
      })
    })
    const timer = setTimeout(() => {
      upstream.destroy(new Error('timeout'))
    }, o.timeoutMs)
    upstream.once('error', (e) => {
      clearTimeout(timer)
      if (answered) {
        res.destroy()
        return resolve()
      }
      o.onOwnerFailed?.()
      const timedOut = e.message === 'timeout'
      failed(
        res,
        o.self,
        timedOut ? 504 : 503,
        timedOut ? 'forward_timeout' : 'owner_unreachable',
        timedOut
          ? `the owner ${o.ownerUrl} did not answer within ${o.timeoutMs} ms`
          : `the owner ${o.ownerUrl} cannot be reached: ${e.message}`,
      )
      resolve()
    })
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy() // the client went away
    })
    upstream.end()
  })
}

function failed(res: ServerResponse, self: string, status: number, code: string, error: string): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  res
    .writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      'retry-after': String(Math.ceil(RETRY_AFTER_MS / 1000)),
      [ANSWERED_BY_HEADER]: self,
    })
    .end(
      JSON.stringify({ error: `${error}; try again`, code, retryAfterMs: RETRY_AFTER_MS, answeredBy: self }) +
        '\n',
    )
}
