/**
 * Who may use the worker's HTTP API (README "Security"). With http.auth on (tokens and/or client certificates),
 * every request is authenticated before any handler sees it (guard.ts):
 *
 *   - a bearer token (`Authorization: Bearer <token>`): its SHA-256 is compared with each configured digest in
 *     constant time (crypto.timingSafeEqual on equal-length digests);
 *   - else a client certificate (HTTPS with http.tls.requestClientCert): verified against http.tls.ca, then mapped
 *     to permissions by its subject CN or a SAN entry (http.auth.clientCerts).
 *
 * A request with an Authorization header is judged by it alone (a bad token is a 401 even with a good certificate):
 * a forwarded read carries its caller's header, so the owner checks the caller's permission, not the forwarder's.
 *
 * Permissions per route: `read` for GET/HEAD of /state, /aggregates, /events, /views, /cluster, /topologies,
 * /dead-letters and for POST /sql; `write` for /commands and POST /dead-letters/<topology>/replay. The web
 * console's static files (/console/...) are open: they hold no data. /livez and /readyz (protectHealth) and /metrics (protectMetrics) are open unless protected; protected,
 * or any other path, they take any valid credential. 401 (with WWW-Authenticate: Bearer) when the credentials are
 * missing or invalid, 403 when they lack the permission.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import type { Permission, TokenCredential } from '../config/http-credentials.ts'

export type { Permission }

export interface Principal {
  /** The token's name, or the certificate entry (`CN=...`, `DNS:...`) that matched. */
  name: string
  permissions: ReadonlySet<Permission>
  via: 'token' | 'certificate'
}

export interface HttpAuthOptions {
  tokens: readonly TokenCredential[]
  clientCerts?: readonly { subject: string; permissions: readonly Permission[] }[]
  protectHealth?: boolean
  protectMetrics?: boolean
}

/** What a route needs: health and metrics (open unless protected), a permission, or any credential (other). */
export type RouteClass = 'health' | 'metrics' | 'asset' | 'read' | 'write' | 'other'

/** The class of a path (the request target before `?`), as the handlers route it. */
export function routeClass(path: string): RouteClass {
  if (path === '/livez' || path === '/readyz') return 'health'
  if (path === '/metrics') return 'metrics'
  // The console's page and scripts hold no data (they ask the API with the caller's token): open, like a login page.
  if (path === '/console' || path.startsWith('/console/')) return 'asset'
  if (path === '/commands' || path.startsWith('/commands/')) return 'write'
  if (/^\/dead-letters\/[^/]+\/replay$/.test(path)) return 'write'
  if (path === '/sql') return 'read'
  if (/^\/(state|aggregates|events|views|dead-letters)(\/|$)/.test(path)) return 'read'
  if (path === '/cluster' || path === '/topologies') return 'read'
  return 'other'
}

export type AuthDecision =
  | { ok: true; principal?: Principal }
  | { ok: false; status: 401 | 403; code: string; error: string; headers: Record<string, string> }

export interface HttpAuth {
  /** False: no credentials configured, every request is served. */
  readonly enabled: boolean
  check(req: IncomingMessage, route: RouteClass): AuthDecision
}

const REALM = 'kafka-decider'

/** No credentials configured: everything is served. */
export const OPEN_AUTH: HttpAuth = { enabled: false, check: () => ({ ok: true }) }

export function httpAuth(o: HttpAuthOptions | undefined): HttpAuth {
  const tokens = (o?.tokens ?? []).map((t) => ({
    name: t.name,
    permissions: new Set(t.permissions),
    digest: Buffer.from(t.sha256, 'hex'),
  }))
  const certs = (o?.clientCerts ?? []).map((c) => ({
    subject: c.subject,
    permissions: new Set(c.permissions),
  }))
  if (tokens.length === 0 && certs.length === 0) return OPEN_AUTH
  const accepted = [
    ...(tokens.length > 0 ? ['a bearer token (Authorization: Bearer <token>)'] : []),
    ...(certs.length > 0 ? ['a client certificate'] : []),
  ].join(' or ')

  const unauthorized = (
    code: string,
    error: string,
    bearerError?: 'invalid_request' | 'invalid_token',
  ): AuthDecision => ({
    ok: false,
    status: 401,
    code,
    error,
    headers: {
      'www-authenticate': `Bearer realm="${REALM}"${bearerError ? `, error="${bearerError}"` : ''}`,
    },
  })

  /** The caller, a refusal, or undefined when it presented nothing. */
  const authenticate = (req: IncomingMessage): Principal | AuthDecision | undefined => {
    const header = req.headers.authorization
    if (header !== undefined) {
      const m = /^Bearer +(\S+) *$/i.exec(header)
      if (m === null)
        return unauthorized(
          'invalid_credentials',
          'the Authorization header must be "Bearer <token>"',
          'invalid_request',
        )
      if (tokens.length === 0)
        return unauthorized(
          'invalid_credentials',
          'this worker takes no bearer tokens (it authenticates client certificates)',
          'invalid_token',
        )
      const presented = createHash('sha256').update(m[1]!, 'utf8').digest()
      let found: (typeof tokens)[number] | undefined
      // Every digest is compared (no early exit): the time does not depend on which one matches.
      for (const t of tokens) if (timingSafeEqual(presented, t.digest) && found === undefined) found = t
      if (found === undefined)
        return unauthorized('invalid_credentials', 'the bearer token is not valid here', 'invalid_token')
      return { name: found.name, permissions: found.permissions, via: 'token' }
    }
    if (certs.length === 0) return undefined
    const socket = req.socket as Partial<TLSSocket>
    if (typeof socket.getPeerCertificate !== 'function') return undefined
    const cert = socket.getPeerCertificate()
    if (cert === null || typeof cert !== 'object' || Object.keys(cert).length === 0) return undefined
    if (socket.authorized !== true)
      return unauthorized(
        'invalid_credentials',
        `the client certificate is not trusted: ${String(socket.authorizationError ?? 'not verified')}`,
      )
    const names = certificateNames(cert)
    const entry = certs.find((c) => names.includes(c.subject))
    if (entry === undefined)
      return {
        ok: false,
        status: 403,
        code: 'forbidden',
        error: `the client certificate (${names.slice(0, 4).join(', ') || 'no subject'}) has no permissions here (http.auth.clientCerts)`,
        headers: {},
      }
    return { name: entry.subject, permissions: entry.permissions, via: 'certificate' }
  }

  return {
    enabled: true,
    check(req, route) {
      if (
        route === 'asset' ||
        (route === 'health' && !o?.protectHealth) ||
        (route === 'metrics' && !o?.protectMetrics)
      )
        return { ok: true }
      const who = authenticate(req)
      if (who === undefined)
        return unauthorized(
          'unauthenticated',
          `this route needs credentials: ${accepted}${route === 'read' || route === 'write' ? ` with the ${route} permission` : ''}`,
        )
      if ('ok' in who) return who
      if ((route === 'read' || route === 'write') && !who.permissions.has(route))
        return {
          ok: false,
          status: 403,
          code: 'forbidden',
          error: `${who.via === 'token' ? 'token' : 'certificate'} ${who.name} lacks the ${route} permission this route needs (it has: ${[...who.permissions].join(', ')})`,
          headers: { 'www-authenticate': `Bearer realm="${REALM}", error="insufficient_scope"` },
        }
      return { ok: true, principal: who }
    },
  }
}

/** `CN=<cn>` for each common name of the subject, then the SAN entries as Node writes them (`DNS:x`, `URI:y`). */
export function certificateNames(cert: { subject?: unknown; subjectaltname?: unknown }): string[] {
  const cn = (cert.subject as { CN?: string | string[] } | undefined)?.CN
  const cns = cn === undefined ? [] : Array.isArray(cn) ? cn : [cn]
  const san =
    typeof cert.subjectaltname === 'string'
      ? cert.subjectaltname
          .split(', ')
          .map((s) => s.trim())
          .filter(Boolean)
      : []
  return [...cns.map((c) => `CN=${c}`), ...san]
}

const principals = new WeakMap<IncomingMessage, Principal>()

export function setPrincipal(req: IncomingMessage, p: Principal): void {
  principals.set(req, p)
}

/** The authenticated caller of a request; undefined when http.auth is off (or the route was open). */
export function principalOf(req: IncomingMessage): Principal | undefined {
  return principals.get(req)
}
