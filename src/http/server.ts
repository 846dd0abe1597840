/** /metrics, /livez (the event loop answers), /readyz (200 only when every topology is ready). */
import { createServer, type Server } from 'node:http'
import type { Registry } from 'prom-client'

export interface HttpOptions {
  host: string
  port: number
  registry: Registry
  ready: () => boolean
}

export async function startHttp(o: HttpOptions): Promise<Server> {
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0]
    if (url === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n')
    } else if (url === '/readyz') {
      const ok = o.ready()
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ready\n' : 'not ready\n')
    } else if (url === '/metrics') {
      o.registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': o.registry.contentType }).end(text))
        .catch((e: unknown) => res.writeHead(500).end(String(e)))
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /livez, /readyz\n')
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () => resolve())
  })
  return server
}
