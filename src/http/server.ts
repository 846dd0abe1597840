/**
 * /metrics (Prometheus text format, the worker's own registry), /livez (200 whenever the event loop
 * answers), /readyz (200 only when every topology is ready; 503 with the reason otherwise).
 */
import { createServer, type Server } from 'node:http'
import type { Registry } from 'prom-client'

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
}

export async function startHttp(o: HttpOptions): Promise<Server> {
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0]
    const text = (status: number, body: string) =>
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body)
    if (req.method !== 'GET' && req.method !== 'HEAD') {
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
        .then((body) => res.writeHead(200, { 'content-type': o.registry.contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body))
        .catch((e: unknown) => text(500, `metrics collection failed: ${String(e)}\n`))
    } else {
      text(404, 'not found: try /metrics, /livez, /readyz\n')
    }
  })
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
