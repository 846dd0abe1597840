/**
 * /metrics (Prometheus text format, the worker's own registry), /livez (200 whenever the event loop
 * answers), /readyz (200 only when every topology is ready; 503 with the reason otherwise), and, when a
 * state query is given, /state/<topology>/<aggregateId> (an aggregate's committed snapshot as JSON; see
 * state.ts), and with event queries the event reads /aggregates/<topology>/<aggregateId>/events and
 * /events/<topology> (events.ts), and the as-of state /aggregates/<topology>/<aggregateId>/state (as-of.ts), and
 * with view queries the views of projections /views/<projection>/<key> and /views/<projection> (views.ts); POST
 * /sql when the worker's http.sql is on (sql.ts).
 */
import { createServer, type RequestListener, type Server } from 'node:http'
import type { Registry } from 'prom-client'
import type { AsOfQuery } from './as-of.ts'
import type { EventQueries } from './events.ts'
import type { StateQuery } from './state.ts'
import type { ViewQueries } from './views.ts'
import { FORWARDED_HEADER } from './routing.ts'
import { frontDoor, withAnsweredBy, type FrontDoorOptions } from './front-door.ts'
import type { SqlRoute } from './sql.ts'

export interface Readiness {
  ready: boolean
  reason?: string
}

export interface HttpOptions {
  host: string
  /** 0 = any free port (see server.address()). */
  port: number
  registry: Registry
  readiness: () => Readiness
  /**
   * Commands over HTTP (POST /commands/<topology>), reads of aggregates other workers own forwarded to their
   * owner, and answers naming this worker (x-decider-answered-by, `answeredBy`): see front-door.ts.
   */
  frontDoor?: FrontDoorOptions
  /** Serves GET /state/<topology>/<aggregateId> (both URL-encoded) when given. */
  state?: StateQuery
  /** Serves GET /aggregates/<topology>/<aggregateId>/events and /events/<topology> when given. */
  events?: EventQueries
  /** Serves GET /aggregates/<topology>/<aggregateId>/state?eventTimeAsOf=&recordedAsOf= when given (as-of.ts). */
  asOf?: AsOfQuery
  /** Serves GET /views/<projection>/<key> and /views/<projection> when given (views.ts). */
  views?: ViewQueries
  /** Serves POST /sql when given (sql.ts; the worker's http.sql); without it /sql answers 404 sql_disabled. */
  sql?: SqlRoute
}

export async function startHttp(o: HttpOptions): Promise<Server> {
  const server = createServer((req, res) => {
    const [url = '/', search = ''] = (req.url ?? '/').split('?', 2)
    const text = (status: number, body: string) =>
      res
        .writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
        .end(req.method === 'HEAD' ? undefined : body)
    const json = (status: number, body: unknown) => {
      const hint = (body as { retryAfterMs?: unknown } | null)?.retryAfterMs
      return res
        .writeHead(status, {
          'content-type': 'application/json; charset=utf-8',
          'cache-control': 'no-store',
          ...(status === 503 && typeof hint === 'number'
            ? { 'retry-after': String(Math.ceil(hint / 1000)) }
            : {}),
        })
        .end(
          req.method === 'HEAD' ? undefined : JSON.stringify(withAnsweredBy(body, o.frontDoor?.self)) + '\n',
        )
    }
    if (url === '/sql') {
      const answer = (
        status: number,
        body: Record<string, unknown>,
        headers: Record<string, string> = {},
      ) => {
        if (res.headersSent) return void res.destroy()
        res
          .writeHead(status, {
            'content-type': 'application/json; charset=utf-8',
            'cache-control': 'no-store',
            ...headers,
          })
          .end(JSON.stringify(withAnsweredBy(body, o.frontDoor?.self)) + '\n')
      }
      if (o.sql === undefined)
        answer(404, {
          error: 'this worker takes no SQL queries (http.sql is false): turn it on, or run decider sql',
          code: 'sql_disabled',
        })
      else
        o.sql(req, answer).catch((e: unknown) =>
          answer(500, { error: `sql failed: ${(e as Error).message}`, code: 'internal' }),
        )
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      text(405, 'method not allowed\n')
    } else if (url === '/livez') {
      text(200, 'ok\n')
    } else if (url === '/readyz') {
      let r: Readiness
      try {
        r = o.readiness()
      } catch (e) {
        r = { ready: false, reason: `readiness check failed: ${(e as Error).message}` }
      }
      text(r.ready ? 200 : 503, r.ready ? 'ready\n' : `not ready: ${r.reason ?? 'unknown'}\n`)
    } else if (url === '/metrics') {
      o.registry
        .metrics()
        .then((body) =>
          res
            .writeHead(200, { 'content-type': o.registry.contentType, 'cache-control': 'no-store' })
            .end(req.method === 'HEAD' ? undefined : body),
        )
        .catch((e: unknown) => text(500, `metrics collection failed: ${String(e)}\n`))
    } else if (o.state !== undefined && (url === '/state' || url.startsWith('/state/'))) {
      const m = /^\/state\/([^/]+)\/(.+)$/.exec(url)
      let name: string | undefined
      let id: string | undefined
      try {
        if (m) [name, id] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)]
      } catch {
        // malformed percent-encoding: answered as bad usage below
      }
      if (name === undefined || id === undefined || id === '') {
        json(400, { error: 'use /state/<topology>/<aggregateId> (both URL-encoded)', code: 'bad_request' })
        return
      }
      o.state(name, id)
        .then((r) => json(r.status, r.body))
        .catch((e: unknown) =>
          json(500, { error: `state query failed: ${(e as Error).message}`, code: 'internal' }),
        )
    } else if (o.events !== undefined && (url.startsWith('/aggregates/') || url.startsWith('/events/'))) {
      const events = o.events
      const query = new URLSearchParams(search)
      const aggregate = /^\/aggregates\/([^/]+)\/(.+)\/events$/.exec(url)
      const asOf = /^\/aggregates\/([^/]+)\/(.+)\/state$/.exec(url)
      const all = /^\/events\/([^/]+)$/.exec(url)
      let answer: Promise<{ status: number; body: unknown }> | undefined
      try {
        if (aggregate) {
          const [name, id] = [decodeURIComponent(aggregate[1]!), decodeURIComponent(aggregate[2]!)]
          if (id !== '') answer = events.aggregateEvents(name, id, query)
        } else if (asOf && o.asOf) {
          const [name, id] = [decodeURIComponent(asOf[1]!), decodeURIComponent(asOf[2]!)]
          if (id !== '') answer = o.asOf(name, id, query)
        } else if (all) {
          answer = events.allEvents(decodeURIComponent(all[1]!), query)
        }
      } catch {
        // malformed percent-encoding: answered as bad usage below
      }
      if (answer === undefined) {
        json(400, {
          error:
            'use /aggregates/<topology>/<aggregateId>/events?fromVersion=&toVersion=&limit=, /aggregates/<topology>/<aggregateId>/state?eventTimeAsOf=&recordedAsOf= or /events/<topology>?from=<token>&limit= (names URL-encoded)',
          code: 'bad_request',
        })
        return
      }
      answer
        .then((r) => json(r.status, r.body))
        .catch((e: unknown) =>
          json(500, { error: `event read failed: ${(e as Error).message}`, code: 'internal' }),
        )
    } else if (o.views !== undefined && (url === '/views' || url.startsWith('/views/'))) {
      const views = o.views
      const query = new URLSearchParams(search)
      const one = /^\/views\/([^/]+)\/(.+)$/.exec(url)
      const all = /^\/views\/([^/]+)$/.exec(url)
      let answer: Promise<{ status: number; body: unknown }> | undefined
      try {
        if (one) {
          const [name, key] = [decodeURIComponent(one[1]!), decodeURIComponent(one[2]!)]
          if (name !== '' && key !== '') answer = views.view(name, key, query)
        } else if (all) {
          const name = decodeURIComponent(all[1]!)
          if (name !== '') answer = views.list(name, query, req.headers[FORWARDED_HEADER] !== undefined)
        }
      } catch {
        // malformed percent-encoding: answered as bad usage below
      }
      if (answer === undefined) {
        json(400, {
          error:
            'use /views/<projection>/<key>?waitFor=<topic>:<partition>:<offset>&timeoutMs= or /views/<projection>?prefix=&after=&limit= (names and keys URL-encoded)',
          code: 'bad_request',
        })
        return
      }
      answer
        .then((r) => json(r.status, r.body))
        .catch((e: unknown) =>
          json(500, { error: `view read failed: ${(e as Error).message}`, code: 'internal' }),
        )
    } else {
      const reads = [
        ...(o.state ? ['/state/<topology>/<aggregateId>'] : []),
        ...(o.events ? ['/aggregates/<topology>/<aggregateId>/events', '/events/<topology>'] : []),
        ...(o.asOf ? ['/aggregates/<topology>/<aggregateId>/state'] : []),
        ...(o.views ? ['/views/<projection>/<key>', '/views/<projection>'] : []),
      ]
      text(404, `not found: try /metrics, /livez, /readyz${reads.map((r) => `, ${r}`).join('')}\n`)
    }
  })
  // The front door sees every request before the handlers above.
  if (o.frontDoor) wrapRequests(server, (handle) => frontDoor(o.frontDoor!, handle))
  // Scrapes and probes are short; do not let an idle keep-alive socket hold the shutdown.
  server.keepAliveTimeout = 5000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return server
}

function wrapRequests(server: Server, wrap: (handle: RequestListener) => RequestListener): void {
  const [handle] = server.listeners('request') as RequestListener[]
  server.removeAllListeners('request')
  server.on('request', wrap(handle!))
}
