import { createConnection, createServer } from 'node:net'
import { BIND_HOST } from './properties.ts'

/** A port the OS says is free on 127.0.0.1 right now. */
export function freePort(host: string = BIND_HOST): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, host, () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() =>
        port > 0 ? resolvePromise(port) : reject(new Error('devkafka: could not pick a free port')),
      )
    })
  })
}

/** Distinct free ports (held open together while picking, so none is returned twice). */
export async function freePorts(count: number, host: string = BIND_HOST): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<import('node:net').Server>((resolvePromise, reject) => {
          const srv = createServer()
          srv.unref()
          srv.once('error', reject)
          srv.listen(0, host, () => resolvePromise(srv))
        }),
    ),
  )
  const ports = servers.map((s) => {
    const a = s.address()
    return typeof a === 'object' && a ? a.port : 0
  })
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))))
  return ports
}

/** Whether something can bind `port` on `host` (false when it is taken). */
export function isPortFree(port: number, host: string = BIND_HOST): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', () => resolvePromise(false))
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolvePromise(true)))
  })
}

/** Throws a clear error when any of the ports is already taken. */
export async function assertPortsFree(ports: readonly number[], host: string = BIND_HOST): Promise<void> {
  const taken: number[] = []
  for (const p of ports) if (!(await isPortFree(p, host))) taken.push(p)
  if (taken.length > 0) {
    throw new Error(
      `devkafka: port${taken.length > 1 ? 's' : ''} ${taken.join(', ')} on ${host} already in use — ` +
        `is another Kafka broker running (try \`npm run kafka:status\`)? Choose another port (--port / KAFKA_PORT) or stop it.`,
    )
  }
}

/** Whether a TCP connection to host:port is accepted (something listens there). */
export function isPortOpen(port: number, host: string = BIND_HOST, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const sock = createConnection({ port, host })
    const done = (v: boolean): void => {
      sock.destroy()
      resolvePromise(v)
    }
    sock.setTimeout(timeoutMs, () => done(false))
    sock.once('connect', () => done(true))
    sock.once('error', () => done(false))
  })
}
