/**
 * What every request passes first (before the front door and the handlers, server.ts), and what Node's HTTP
 * parser refuses itself: bounds on the input and authentication (auth.ts). Every refusal is a JSON
 * `{ error, code }` with a 4xx status (429 with Retry-After), never a crash:
 *
 *   414 uri_too_long        request target above http.maxUrlBytes
 *   405 method_not_allowed  a method other than GET, HEAD, POST (also one the parser does not know; CONNECT)
 *   400 bad_request         a target that is not a path (absolute-form, `*`); bad_path: malformed percent-encoding
 *                           or bytes that are not UTF-8 in the path; malformed HTTP (the parser's code)
 *   413 body_too_large      a declared Content-Length above http.maxBodyBytes (a body read beyond it: the routes)
 *   401 / 403               auth.ts
 *   429 too_many_requests   http.maxConcurrent requests already in progress (health probes are not counted)
 *   408 request_timeout     headers not in within http.headersTimeoutMs, or the whole request within
 *                           http.requestTimeoutMs (Node's server timeouts; a slow body is cut)
 *   431 headers_too_large   headers (the request line included) above Node's 16 KiB
 *   417 expectation_failed  an Expect header other than 100-continue
 * A request with `Expect: 100-continue` gets its 100 Continue only once it passed all of the above: a refused one
 * is refused before its body is sent.
 */
import { STATUS_CODES, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { setPrincipal, routeClass, type HttpAuth } from './auth.ts'
import { withAnsweredBy } from './front-door.ts'
import { ANSWERED_BY_HEADER } from './routing.ts'

export interface HttpLimits {
  /** Largest request body (the routes stop reading beyond it). */
  maxBodyBytes: number
  /** Longest request target (path and query), in bytes. */
  maxUrlBytes: number
  /** Requests in progress at most (health probes aside). */
  maxConcurrent: number
  headersTimeoutMs: number
  requestTimeoutMs: number
}

export const DEFAULT_LIMITS: HttpLimits = {
  maxBodyBytes: 1024 * 1024,
  maxUrlBytes: 8192,
  maxConcurrent: 256,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
}

const METHODS = new Set(['GET', 'HEAD', 'POST'])
const ALLOW = 'GET, HEAD, POST'

/** A JSON answer (no body for HEAD); a response already started is cut instead (the client sees it broken). */
export function sendJson(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
  self?: string,
): void {
  if (res.headersSent || res.destroyed) return void res.destroy()
  res
    .writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      ...(self !== undefined ? { [ANSWERED_BY_HEADER]: self } : {}),
      ...headers,
    })
    .end(req.method === 'HEAD' ? undefined : JSON.stringify(withAnsweredBy(body, self)) + '\n')
}

export interface GuardOptions {
  limits: HttpLimits
  auth: HttpAuth
  /** This worker's name in answers (the front door's `self`), looked up per request. */
  self?: () => string | undefined
}

export function guard(o: GuardOptions, next: RequestListener): RequestListener {
  let inFlight = 0
  return (req, res) => {
    const url = req.url ?? '/'
    const refuse = (status: number, code: string, error: string, headers: Record<string, string> = {}) =>
      sendJson(req, res, status, { error, code }, headers, o.self?.())
    const bytes = Buffer.byteLength(url)
    if (bytes > o.limits.maxUrlBytes)
      return refuse(
        414,
        'uri_too_long',
        `the request target is ${bytes} bytes, above ${o.limits.maxUrlBytes} (http.maxUrlBytes)`,
      )
    const method = req.method ?? ''
    if (!METHODS.has(method))
      return refuse(405, 'method_not_allowed', `method ${method.slice(0, 20)} is not served: use ${ALLOW}`, {
        allow: ALLOW,
      })
    if (!url.startsWith('/'))
      return refuse(400, 'bad_request', 'the request target must be a path such as /state/<topology>/<id>')
    const path = url.split('?', 1)[0]!
    try {
      decodeURIComponent(path)
    } catch {
      return refuse(
        400,
        'bad_path',
        'the path has malformed percent-encoding or encodes bytes that are not UTF-8',
      )
    }
    const declared = req.headers['content-length']
    if (declared !== undefined && Number(declared) > o.limits.maxBodyBytes)
      return refuse(
        413,
        'body_too_large',
        `the body is ${declared} bytes, above ${o.limits.maxBodyBytes} (http.maxBodyBytes)`,
        { connection: 'close' },
      )
    const route = routeClass(path)
    const decision = o.auth.check(req, route)
    if (!decision.ok) return refuse(decision.status, decision.code, decision.error, decision.headers)
    if (decision.principal !== undefined) setPrincipal(req, decision.principal)
    if (route !== 'health') {
      if (inFlight >= o.limits.maxConcurrent)
        return sendJson(
          req,
          res,
          429,
          {
            error: `${o.limits.maxConcurrent} requests are in progress on this worker (http.maxConcurrent); try again`,
            code: 'too_many_requests',
            retryAfterMs: 1000,
          },
          { 'retry-after': '1' },
          o.self?.(),
        )
      inFlight++
      res.once('close', () => inFlight--)
    }
    // Expect: 100-continue (server.ts routes those here through 'checkContinue'): the body is asked for only now,
    // once the request passed the bounds and authentication.
    if (req.headers.expect?.toLowerCase() === '100-continue' && !res.headersSent) res.writeContinue()
    try {
      next(req, res)
    } catch (e) {
      // A handler that throws at once is a bug; the server answers 500 and carries on.
      sendJson(
        req,
        res,
        500,
        { error: `internal error: ${(e as Error).message}`, code: 'internal' },
        {},
        o.self?.(),
      )
    }
  }
}

/** A whole JSON response written on a bare socket (the parser refused the request; no ServerResponse exists). */
function rawJson(status: number, code: string, error: string, extra = ''): string {
  const body = JSON.stringify({ error, code }) + '\n'
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
    'content-type: application/json; charset=utf-8\r\n' +
    'cache-control: no-store\r\n' +
    extra +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    'connection: close\r\n\r\n' +
    body
  )
}

/** How long a refused connection may stay open for its answer to be read before it is destroyed. */
const LINGER_MS = 1000

/**
 * Node's own refusals, as JSON: malformed requests and timeouts (clientError), CONNECT, unexpected Expect headers.
 * `server` is an http or https server.
 */
export function installRefusals(
  server: {
    on(event: 'clientError', l: (err: Error & { code?: string }, socket: Duplex) => void): unknown
    on(event: 'connect', l: (req: IncomingMessage, socket: Duplex) => void): unknown
    on(event: 'checkExpectation', l: (req: IncomingMessage, res: ServerResponse) => void): unknown
  },
  limits: HttpLimits,
): void {
  const answered = new WeakSet<Duplex>()
  const close = (socket: Duplex, response: string) => {
    if (answered.has(socket)) return
    answered.add(socket)
    if (!socket.writable) return void socket.destroy()
    socket.end(response)
    setTimeout(() => socket.destroy(), LINGER_MS).unref()
  }
  server.on('clientError', (err, socket) => {
    if (err.code === 'ECONNRESET' || answered.has(socket)) return void socket.destroy()
    const [status, code, error] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [
            408,
            'request_timeout',
            `the request was not received in time (headers within ${limits.headersTimeoutMs} ms, the whole request within ${limits.requestTimeoutMs} ms)`,
          ]
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'headers_too_large', 'the request line and headers are above 16 KiB']
          : err.code === 'HPE_INVALID_METHOD'
            ? [405, 'method_not_allowed', `unknown method: use ${ALLOW}`]
            : [400, 'bad_request', `malformed HTTP request (${err.code ?? 'parse error'})`]
    // A request whose handler runs already (a slow or broken body): answer through its response, unless started.
    const pending = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage
    if (pending !== undefined && pending !== null) {
      answered.add(socket)
      if (pending.headersSent || pending.destroyed) return void socket.destroy()
      try {
        pending
          .writeHead(status, {
            'content-type': 'application/json; charset=utf-8',
            'cache-control': 'no-store',
            connection: 'close',
            ...(status === 405 ? { allow: ALLOW } : {}),
          })
          .end(JSON.stringify({ error, code }) + '\n')
      } catch {
        return void socket.destroy()
      }
      setTimeout(() => socket.destroy(), LINGER_MS).unref()
      return
    }
    close(socket, rawJson(status, code, error, status === 405 ? `allow: ${ALLOW}\r\n` : ''))
  })
  server.on('connect', (_req, socket) => {
    socket.on('error', () => undefined)
    close(
      socket,
      rawJson(405, 'method_not_allowed', `CONNECT is not served: use ${ALLOW}`, `allow: ${ALLOW}\r\n`),
    )
  })
  server.on('checkExpectation', (req, res) =>
    sendJson(req, res, 417, {
      error: `Expect: ${String(req.headers.expect).slice(0, 100)} is not supported (only 100-continue)`,
      code: 'expectation_failed',
    }),
  )
}
