/**
 * Every request passes guard.ts first (bounds, authentication: auth.ts), then the front door (front-door.ts), then:
 * /metrics (Prometheus text format, the worker's own registry), /livez (200 whenever the event loop
 * answers), /readyz (200 only when every topology is ready; 503 with the reason otherwise), and, when a
 * state query is given, /state/<topology>/<aggregateId> (an aggregate's committed snapshot as JSON; see
 * state.ts), and with event queries the event reads /aggregates/<topology>/<aggregateId>/events and
 * /events/<topology> (events.ts), and the as-of state /aggregates/<topology>/<aggregateId>/state (as-of.ts), and
 * with view queries the views of projections /views/<projection>/<key> and /views/<projection> (views.ts); POST
 * /sql when the worker's http.sql is on (sql.ts); and for the web console its files /console/... (console.ts), the
 * catalog /topologies, the overview /cluster (cluster.ts) and the dead letters /dead-letters/... (dead-letters.ts).
 */
import { createServer, type RequestListener, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Registry } from 'prom-client'
import { OPEN_AUTH, type HttpAuth } from './auth.ts'
import { DEFAULT_LIMITS, guard, installRefusals, type HttpLimits } from './guard.ts'
import type { AsOfQuery } from './as-of.ts'
import type { EventQueries } from './events.ts'
import type { StateQuery } from './state.ts'
import type { ViewQueries } from './views.ts'
import { FORWARDED_HEADER } from './routing.ts'
import { frontDoor, withAnsweredBy, type FrontDoorOptions } from './front-door.ts'
import type { SqlRoute } from './sql.ts'
import type { CatalogQuery, ConsoleFiles } from './console.ts'
import type { ClusterQuery } from './cluster.ts'
import { deadLetterRoute, isDeadLetterPath, type DeadLetterOptions } from './dead-letters.ts'

export interface Readiness {
  ready: boolean
  reason?: string
  /** Extra lines after the verdict (e.g. whether the standby replicas are caught up); never decides readiness. */
  details?: string[]
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
  /** The web console's files, GET /console/... (console.ts). */
  consoleFiles?: ConsoleFiles
  /** GET /topologies (console.ts). */
  catalog?: CatalogQuery
  /** GET /cluster (cluster.ts). */
  cluster?: ClusterQuery
  /** GET /dead-letters/..., POST /dead-letters/<topology>/replay (dead-letters.ts). */
  deadLetters?: DeadLetterOptions
  /** Who may call which route (auth.ts); default: everyone. */
  auth?: HttpAuth
  /** Bounds on requests (guard.ts); default DEFAULT_LIMITS. */
  limits?: Partial<HttpLimits>
  /** Serve HTTPS (PEM): with `ca` and requestClientCert, clients may present certificates signed by it. */
  tls?: HttpTls
}

export interface HttpTls {
  cert: Buffer
  key: Buffer
  ca?: Buffer
  requestClientCert?: boolean
}

export async function startHttp(o: HttpOptions): Promise<Server> {
  const limits: HttpLimits = { ...DEFAULT_LIMITS, ...o.limits }
  const handler: RequestListener = (req, res) => {
    const [url = '/', search = ''] = (req.url ?? '/').split('?', 2)
    const text = (status: number, body: string) =>
      res
        .writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
        .end(req.method === 'HEAD' ? undefined : body)
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      if (res.headersSent || res.destroyed) return void res.destroy()
      const hint = (body as { retryAfterMs?: unknown } | null)?.retryAfterMs
      return res
        .writeHead(status, {
          'content-type': 'application/json; charset=utf-8',
          'cache-control': 'no-store',
          ...(status === 503 && typeof hint === 'number'
            ? { 'retry-after': String(Math.ceil(hint / 1000)) }
            : {}),
          ...headers,
        })
        .end(
          req.method === 'HEAD' ? undefined : JSON.stringify(withAnsweredBy(body, o.frontDoor?.self)) + '\n',
        )
    }
    if (o.consoleFiles !== undefined && (url === '/console' || url.startsWith('/console/'))) {
      o.consoleFiles(req, res, url)
      return
    }
    if (o.deadLetters !== undefined && isDeadLetterPath(url)) {
      const answer = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
        json(status, body, headers)
      deadLetterRoute(req, url, new URLSearchParams(search), answer, o.deadLetters).catch((e: unknown) =>
        answer(500, { error: `dead-letter request failed: ${(e as Error).message}`, code: 'internal' }),
      )
      return
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
      json(405, { error: `use GET for ${url}`, code: 'method_not_allowed' }, { allow: 'GET, HEAD' })
    } else if (url === '/livez') {
      text(200, 'ok\n')
    } else if (url === '/readyz') {
      let r: Readiness
      try {
        r = o.readiness()
      } catch (e) {
        r = { ready: false, reason: `readiness check failed: ${(e as Error).message}` }
      }
      const details = (r.details ?? []).map((d) => `${d}\n`).join('')
      text(r.ready ? 200 : 503, (r.ready ? 'ready\n' : `not ready: ${r.reason ?? 'unknown'}\n`) + details)
    } else if (o.catalog !== undefined && url === '/topologies') {
      json(200, o.catalog(req))
    } else if (o.cluster !== undefined && url === '/cluster') {
      o.cluster(new URLSearchParams(search), { authorization: req.headers.authorization })
        .then((r) => json(r.status, r.body))
        .catch((e: unknown) =>
          json(500, { error: `cluster overview failed: ${(e as Error).message}`, code: 'internal' }),
        )
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
          if (name !== '')
            answer = views.list(name, query, req.headers[FORWARDED_HEADER] !== undefined, {
              authorization: req.headers.authorization,
            })
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
        ...(o.catalog ? ['/topologies'] : []),
        ...(o.cluster ? ['/cluster'] : []),
        ...(o.deadLetters ? ['/dead-letters/<topology>'] : []),
        ...(o.consoleFiles ? ['/console/'] : []),
      ]
      json(404, {
        error: `not found: try /metrics, /livez, /readyz${reads.map((r) => `, ${r}`).join('')}`,
        code: 'not_found',
      })
    }
  }
  // The guard sees every request first, then the front door, then the handlers above.
  const listener = guard(
    { limits, auth: o.auth ?? OPEN_AUTH, self: () => o.frontDoor?.self },
    o.frontDoor ? frontDoor(o.frontDoor, handler) : handler,
  )
  const options = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    // Node checks the two timeouts on this period (default 30 s): often enough for them to mean what they say.
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
  }
  const server: Server = o.tls
    ? (createHttpsServer(
        {
          ...options,
          cert: o.tls.cert,
          key: o.tls.key,
          ...(o.tls.ca !== undefined ? { ca: o.tls.ca } : {}),
          // Asked, not required: a request without a certificate may still carry a token, or be a health probe;
          // auth.ts refuses an untrusted one (401).
          requestCert: o.tls.requestClientCert === true,
          rejectUnauthorized: false,
        },
        listener,
      ) as unknown as Server)
    : createServer(options, listener)
  installRefusals(server, limits)
  // Expect: 100-continue: the guard answers 100 once the request passed it (Node would send it before any check).
  server.on('checkContinue', listener)
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
