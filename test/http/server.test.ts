/** The HTTP endpoint alone: /livez, /readyz (with its reason), /metrics of the given registry, 404/405. */
import type { AddressInfo } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { startHttp, type Readiness } from '../../src/http/server.ts'
import { createMetrics, METRIC } from '../../src/metrics/metrics.ts'

describe('http server', async () => {
  const metrics = createMetrics()
  metrics.commands.inc({ topology: 't', partition: '0', outcome: 'accepted' }, 3)
  let readiness: Readiness = { ready: false, reason: 't: tasks 0:RESTORING' }
  const server = await startHttp({
    host: '127.0.0.1',
    port: 0,
    registry: metrics.registry,
    readiness: () => readiness,
  })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  afterAll(() => new Promise<void>((r) => server.close(() => r())))

  it('/livez answers 200 whatever the readiness', async () => {
    expect((await fetch(`${base}/livez`)).status).toBe(200)
  })

  it('/readyz is 503 with the reason until ready, then 200', async () => {
    let r = await fetch(`${base}/readyz`)
    expect(r.status).toBe(503)
    expect(await r.text()).toBe('not ready: t: tasks 0:RESTORING\n')
    readiness = { ready: true }
    r = await fetch(`${base}/readyz?verbose=1`)
    expect(r.status).toBe(200)
  })

  it('/readyz is 503 when the check itself throws', async () => {
    const s = await startHttp({
      host: '127.0.0.1',
      port: 0,
      registry: metrics.registry,
      readiness: () => {
        throw new Error('boom')
      },
    })
    const r = await fetch(`http://127.0.0.1:${(s.address() as AddressInfo).port}/readyz`)
    expect(r.status).toBe(503)
    expect(await r.text()).toContain('boom')
    await new Promise<void>((res) => s.close(() => res()))
  })

  it('/metrics serves the worker registry in the Prometheus text format', async () => {
    const r = await fetch(`${base}/metrics`)
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toContain('text/plain')
    const body = await r.text()
    expect(body).toContain(`${METRIC.commands}{topology="t",partition="0",outcome="accepted"} 3`)
    expect(body).toContain('process_cpu_seconds_total')
  })

  it('unknown paths 404, other methods 405, HEAD has no body', async () => {
    expect((await fetch(`${base}/nope`)).status).toBe(404)
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405)
    const head = await fetch(`${base}/livez`, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(await head.text()).toBe('')
  })
})
