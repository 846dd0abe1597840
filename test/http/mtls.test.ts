/**
 * HTTPS and client certificates (http.tls, http.auth.clientCerts) over a worker's real routes: certificates made
 * with openssl for the test (a CA, the workers' certificate, clients by CN), never committed. A client certificate
 * maps to permissions by CN (read-only here, 403 on POST /commands), an unlisted one is 403, one from another CA
 * 401, none 401 (the probes stay open); a bearer token still works over HTTPS; a read forwarded between two HTTPS
 * workers presents the forwarding worker's certificate, which the owner maps like any client's.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tokenDigest } from '../../src/config/http-credentials.ts'
import type { HttpAuthOptions } from '../../src/http/auth.ts'
import type { AggregateRouter } from '../../src/http/routing.ts'
import { workerHttp, type Fixture } from './worker-http.fixture.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'kd-mtls-'))
const file = (name: string) => path.join(dir, name)
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })

/** A P-256 key and a certificate for `cn` signed by `ca` (with SANs for 127.0.0.1 and localhost). */
function issue(name: string, cn: string, ca = 'ca') {
  openssl(
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${cn}`,
  )
  writeFileSync(
    file(`${name}.ext`),
    'basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
  )
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    `${name}.pem`,
    '-extfile',
    `${name}.ext`,
  )
}

function authority(name: string) {
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  )
}

const pem = (name: string) => readFileSync(file(name))
const TOKEN = 'mtls-reader-token-0123456789'

const fixtures: Fixture[] = []
let auth: HttpAuthOptions

beforeAll(() => {
  authority('ca')
  authority('other-ca')
  issue('worker', 'worker')
  issue('reader', 'reader')
  issue('writer', 'writer')
  issue('stranger', 'stranger')
  issue('untrusted', 'reader', 'other-ca')
  auth = {
    tokens: [{ name: 'reader-token', permissions: ['read'], sha256: tokenDigest(TOKEN) }],
    clientCerts: [
      { subject: 'CN=reader', permissions: ['read'] },
      { subject: 'CN=writer', permissions: ['write'] },
      { subject: 'CN=worker', permissions: ['read'] },
    ],
  }
}, 30_000)

afterAll(async () => {
  await Promise.all(fixtures.map((f) => f.close()))
  rmSync(dir, { recursive: true, force: true })
})

const tls = () => ({
  cert: pem('worker.pem'),
  key: pem('worker.key'),
  ca: pem('ca.pem'),
  requestClientCert: true,
})

async function worker(o: Parameters<typeof workerHttp>[0]): Promise<Fixture> {
  const f = await workerHttp(o)
  fixtures.push(f)
  return f
}

/** One HTTPS request trusting the test CA, with client certificate `as` (a name above) and/or a token. */
function get(
  url: string,
  o: { as?: string; token?: string; method?: string; body?: unknown } = {},
): Promise<{ status: number; json: Record<string, unknown> | undefined; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const body = o.body === undefined ? undefined : JSON.stringify(o.body)
    const req = request(
      url,
      {
        method: o.method ?? 'GET',
        ca: pem('ca.pem'),
        ...(o.as !== undefined ? { cert: pem(`${o.as}.pem`), key: pem(`${o.as}.key`) } : {}),
        headers: {
          ...(o.token !== undefined ? { authorization: `Bearer ${o.token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        agent: false,
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (text += c))
        res.on('end', () => {
          let json: Record<string, unknown> | undefined
          try {
            json = JSON.parse(text) as Record<string, unknown>
          } catch {
            json = undefined
          }
          resolve({ status: res.statusCode!, json, headers: res.headers })
        })
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

const command = { aggregateId: 'acc-1', type: 'Deposit', payload: { amount: 1 } }

describe('HTTPS with client certificates', () => {
  it('maps a client certificate to its permissions by CN; unlisted 403, untrusted or none 401, probes open', async () => {
    const w = await worker({ tls: tls(), auth })
    expect(w.url).toMatch(/^https:/)
    expect((await get(`${w.url}/state/bank/acc-1`, { as: 'reader' })).status).toBe(200)
    const write = await get(`${w.url}/commands/bank`, { as: 'reader', method: 'POST', body: command })
    expect(write.status).toBe(403)
    expect(write.json).toMatchObject({ code: 'forbidden' })
    expect(write.json!.error).toMatch(/certificate CN=reader lacks the write permission/)
    const writer = await get(`${w.url}/commands/bank`, { as: 'writer', method: 'POST', body: command })
    expect(writer.status).toBe(200)
    expect(writer.json).toMatchObject({ status: 'accepted' })

    const stranger = await get(`${w.url}/state/bank/acc-1`, { as: 'stranger' })
    expect(stranger.status).toBe(403)
    expect(stranger.json!.error).toMatch(/CN=stranger.*has no permissions here/)
    const untrusted = await get(`${w.url}/state/bank/acc-1`, { as: 'untrusted' })
    expect(untrusted.status).toBe(401)
    expect(untrusted.json!.error).toMatch(/not trusted/)
    const none = await get(`${w.url}/state/bank/acc-1`)
    expect(none.status).toBe(401)
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/)
    expect((await get(`${w.url}/livez`)).status).toBe(200)
    expect((await get(`${w.url}/metrics`)).status).toBe(200)
  })

  it('a bearer token works over HTTPS without a certificate; a bad token is 401 even with a good certificate', async () => {
    const w = await worker({ tls: tls(), auth })
    expect((await get(`${w.url}/state/bank/acc-1`, { token: TOKEN })).status).toBe(200)
    expect(
      (await get(`${w.url}/state/bank/acc-1`, { as: 'reader', token: 'bad-token-0123456789ab' })).status,
    ).toBe(401)
  })

  it("a forwarded read presents the forwarding worker's certificate (CN=worker: read) to the owner", async () => {
    const owner = await worker({ tls: tls(), auth, self: 'https://owner:1' })
    const router = (url: () => string, self: string): AggregateRouter => ({
      self,
      locate: async (_t, _id, forwarded) =>
        forwarded ? { at: 'local' } : { at: 'owner', url: url(), partition: 0 },
      locateView: async (_p, _k, forwarded) =>
        forwarded ? { at: 'local' } : { at: 'owner', url: url(), partition: 0 },
      locatePartition: async (_k, _n, _p, forwarded) =>
        forwarded ? { at: 'local' } : { at: 'owner', url: url(), partition: 0 },
      ownerFailed: () => undefined,
    })
    const peerTls = { cert: pem('worker.pem'), key: pem('worker.key'), ca: pem('ca.pem') }
    const asker = await worker({
      tls: tls(),
      auth,
      self: 'https://asker:1',
      router: router(() => owner.url, 'https://asker:1'),
      holds: false,
      peerTls,
    })
    const r = await get(`${asker.url}/state/bank/acc-1`, { as: 'reader' })
    expect(r.status, JSON.stringify(r.json)).toBe(200)
    expect(r.headers['x-decider-answered-by']).toBe('https://owner:1')
    const list = await get(`${asker.url}/views/totals`, { as: 'reader' })
    expect(list.status, JSON.stringify(list.json)).toBe(200)
    expect(list.json).toMatchObject({ views: [{ key: 'k1' }] })

    // Trusting the owner but presenting no certificate: the owner refuses the forward (401, relayed).
    const anonymous = await worker({
      tls: tls(),
      auth,
      self: 'https://anonymous:1',
      router: router(() => owner.url, 'https://anonymous:1'),
      holds: false,
      peerTls: { ca: pem('ca.pem') },
    })
    const unauthenticated = await get(`${anonymous.url}/state/bank/acc-1`, { as: 'reader' })
    expect(unauthenticated.status).toBe(401)
    expect(unauthenticated.headers['x-decider-answered-by']).toBe('https://owner:1')
    // With the caller's token, the owner checks the token instead.
    expect((await get(`${anonymous.url}/state/bank/acc-1`, { token: TOKEN })).status).toBe(200)

    // Without its certificate (no peerTls: the owner's CA is not even trusted) the forward fails, never succeeds.
    const bare = await worker({
      tls: tls(),
      auth,
      self: 'https://bare:1',
      router: router(() => owner.url, 'https://bare:1'),
      holds: false,
    })
    const refused = await get(`${bare.url}/state/bank/acc-1`, { as: 'reader' })
    expect(refused.status).toBe(503)
    expect(refused.json).toMatchObject({ code: 'owner_unreachable' })
  })
})
