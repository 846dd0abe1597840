/**
 * What every request passes before the worker's own handlers (server.ts): POST /commands/<topology> goes to the
 * command route (commands.ts); a read of one aggregate (/state/<topology>/<id>, /aggregates/<topology>/<id>/...)
 * or of one view (/views/<projection>/<key>) that another worker owns is forwarded to it (routing.ts, forward.ts)
 * or refused with 503 while its owner is not known; everything else, and every read this worker owns, goes on to
 * the handlers, with the x-decider-answered-by header naming this worker. (A list of views, /views/<projection>,
 * needs every partition: its handler asks the owners itself, views.ts.)
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import { commandRoute, type CommandDoorOptions } from './commands.ts'
import { principalOf } from './auth.ts'
import { forward } from './forward.ts'
import type { PeerTls } from './peer.ts'
import {
  aggregatePath,
  ANSWERED_BY_HEADER,
  FORWARDED_HEADER,
  viewPath,
  type AggregateRouter,
  type Location,
} from './routing.ts'
import { viewWaitMs } from './views.ts'

export interface FrontDoorOptions {
  /** This worker's name in answers (its advertised URL, else an id). */
  self: string
  /** Routes reads of aggregates other workers own; without it every read is answered here. */
  router?: AggregateRouter
  /** Bound on a forwarded read (until the owner's response headers); a view read's waitFor bound is added. */
  forwardTimeoutMs?: number
  /** POST /commands/<topology>; without it the route is not served. */
  commands?: CommandDoorOptions
  /** The CA and client certificate of forwarded reads over HTTPS (http.tls). */
  peerTls?: PeerTls
}

/** `body` with `answeredBy`: JSON objects only (arrays and other values are passed as they are). */
export function withAnsweredBy(body: unknown, self: string | undefined): unknown {
  if (self === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) return body
  return { ...body, answeredBy: self }
}

export function frontDoor(o: FrontDoorOptions, next: RequestListener): RequestListener {
  return (req, res) => {
    const [path = '/', search = ''] = (req.url ?? '/').split('?', 2)
    res.setHeader(ANSWERED_BY_HEADER, o.self)
    const json = answerJson(req, res, o.self)
    if (o.commands !== undefined && (path === '/commands' || path.startsWith('/commands/'))) {
      const principal = principalOf(req)
      commandRoute(req, path, new URLSearchParams(search), json, o.commands, {
        canRead: principal === undefined || principal.permissions.has('read'),
        authorization: req.headers.authorization,
      }).catch((e: unknown) =>
        json(500, { error: `command failed: ${(e as Error).message}`, code: 'internal' }),
      )
      return
    }
    const routed = o.router !== undefined && (req.method === 'GET' || req.method === 'HEAD')
    const aggregate = routed ? aggregatePath(path) : undefined
    const view = routed && aggregate === undefined ? viewPath(path) : undefined
    if (o.router === undefined || (aggregate === undefined && view === undefined)) return next(req, res)
    const router = o.router
    const forwarded = req.headers[FORWARDED_HEADER] !== undefined
    const name = aggregate?.topology ?? view!.projection
    // A view read that waits (waitFor) may take its wait before the owner answers.
    const timeoutMs =
      (o.forwardTimeoutMs ?? 5_000) + (view !== undefined ? viewWaitMs(new URLSearchParams(search)) : 0)
    const located: Promise<Location> =
      aggregate !== undefined
        ? router.locate(aggregate.topology, aggregate.aggregateId, forwarded)
        : router.locateView(view!.projection, view!.key, forwarded)
    located
      .then(async (at) => {
        if (at.at === 'local') return next(req, res)
        if (at.at === 'unavailable') {
          const retryAfter = String(Math.ceil(at.body.retryAfterMs / 1000))
          return json(at.status, at.body, { 'retry-after': retryAfter })
        }
        res.removeHeader(ANSWERED_BY_HEADER) // the owner names itself
        await forward(req, res, {
          ownerUrl: at.url,
          self: o.self,
          timeoutMs,
          tls: o.peerTls,
          onOwnerFailed: () => router.ownerFailed(name),
          onOwnerUnavailable: () => router.ownerFailed(name),
        })
      })
      .catch((e: unknown) =>
        json(500, { error: `routing failed: ${(e as Error).message}`, code: 'internal' }),
      )
  }
}

function answerJson(req: IncomingMessage, res: ServerResponse, self: string) {
  return (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
    if (res.headersSent || res.destroyed) return void res.destroy()
    res
      .writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
        ...headers,
      })
      .end(req.method === 'HEAD' ? undefined : JSON.stringify(withAnsweredBy(body, self)) + '\n')
  }
}
