/**
 * http.auth, http.tls and the bind check of the worker config: tokens from DECIDER_HTTP_TOKENS (both forms) or
 * http.auth.tokensFile, kept as digests, never read from the YAML; the combinations that cannot work named; a
 * non-loopback bind without credentials refused unless http.allowUnauthenticated says so (the CLI, which serves
 * nothing, is not refused). Error messages never quote a token.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseTokens, tokenDigest } from '../../src/config/http-credentials.ts'
import {
  httpAuthEnabled,
  isLoopbackHost,
  loadWorkerConfig,
  resolveWorkerConfig,
} from '../../src/config/worker-config.ts'
import { ConfigError } from '../../src/errors.ts'

const configError = (fn: () => unknown): string => {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError)
    return (e as Error).message
  }
  throw new Error('expected a ConfigError')
}

const T1 = 'aaaaaaaaaaaaaaaa-token-1'
const T2 = 'bbbbbbbbbbbbbbbb:token:2' // a colon in a token is fine: it is everything after the second one

describe('HTTP tokens', () => {
  it('DECIDER_HTTP_TOKENS: name:perm+perm:token entries, kept as SHA-256 digests', () => {
    const c = resolveWorkerConfig({}, { DECIDER_HTTP_TOKENS: `ops:read+write:${T1}, grafana:read:${T2}` })
    expect(c.http.auth.tokens).toEqual([
      { name: 'ops', permissions: ['read', 'write'], sha256: tokenDigest(T1) },
      { name: 'grafana', permissions: ['read'], sha256: tokenDigest(T2) },
    ])
    expect(JSON.stringify(c)).not.toContain(T1)
    expect(httpAuthEnabled(c.http)).toBe(true)
  })

  it('the JSON form, in the variable or a file (lines, comments); both sources together', () => {
    const json = JSON.stringify([{ name: 'ops', permissions: ['write'], token: T1 }])
    expect(parseTokens(json, 'X')).toEqual([{ name: 'ops', permissions: ['write'], sha256: tokenDigest(T1) }])
    const dir = mkdtempSync(path.join(tmpdir(), 'kd-tokens-'))
    const file = path.join(dir, 'tokens')
    writeFileSync(file, `# the readers\nreader:read:${T2}\n\n`)
    const c = resolveWorkerConfig(
      { http: { auth: { tokensFile: file } } },
      { DECIDER_HTTP_TOKENS: `ops:read+write:${T1}` },
    )
    expect(c.http.auth.tokens.map((t) => t.name)).toEqual(['ops', 'reader'])
    // DECIDER_HTTP_TOKENS_FILE names the file too.
    expect(resolveWorkerConfig({}, { DECIDER_HTTP_TOKENS_FILE: file }).http.auth.tokens).toHaveLength(1)
    writeFileSync(file, '# nobody yet\n')
    expect(configError(() => resolveWorkerConfig({ http: { auth: { tokensFile: file } } }, {}))).toMatch(
      /tokensFile .*tokens: the file has no tokens/,
    )
    expect(
      configError(() =>
        resolveWorkerConfig({ http: { auth: { tokensFile: path.join(dir, 'missing') } } }, {}),
      ),
    ).toMatch(/http\.auth\.tokensFile .*missing: cannot read the tokens file/)
  })

  it('refuses tokens written in the config file, naming where they belong', () => {
    for (const key of ['tokens', 'token'])
      expect(
        configError(() => resolveWorkerConfig({ http: { auth: { [key]: [T1] } } }, {}, 'w.yaml')),
      ).toMatch(
        new RegExp(
          `^w\\.yaml: http\\.auth\\.${key}: tokens are secrets and are never read from the config file; put them in DECIDER_HTTP_TOKENS or in a file named by http\\.auth\\.tokensFile`,
        ),
      )
  })

  it('names a bad entry without quoting its token', () => {
    const bad = [
      [`ops:${T1}`, /entry 1 is not name:permissions:token/],
      [`o ps:read:${T1}`, /entry 1: the name must be/],
      [`ops:admin:${T1}`, /entry 1 \(ops\): permissions must be read and\/or write/],
      ['ops:read:short', /entry 1 \(ops\): the token must be at least 16 characters/],
      [`ops:read:${T1},ops:write:${T2}`, /the name ops is given twice/],
      [`a:read:${T1},b:write:${T1}`, /b has the same token as another entry/],
      ['[{"name":"ops"', /not a JSON array of tokens/],
      [`[{"name":"ops","permissions":["read"],"token":"${T1}","extra":1}]`, /unknown key\(s\) extra/],
    ] as const
    for (const [value, message] of bad) {
      const m = configError(() => resolveWorkerConfig({}, { DECIDER_HTTP_TOKENS: value }))
      expect(m, value).toMatch(message)
      expect(m, value).not.toContain(T1)
      expect(m, value).not.toContain('short')
    }
  })
})

describe('the HTTP bind', () => {
  it('loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'])
      expect(isLoopbackHost(h), h).toBe(true)
    for (const h of ['0.0.0.0', '::', '', '10.0.0.7', 'worker-1', '128.0.0.1', '127.0.0.1.example.com'])
      expect(isLoopbackHost(h), h).toBe(false)
  })

  it('a non-loopback bind without credentials is refused, naming http.allowUnauthenticated', () => {
    for (const host of ['0.0.0.0', '::', '10.0.0.7', 'worker-1']) {
      const m = configError(() => resolveWorkerConfig({ http: { host } }, {}))
      expect(m).toContain(
        `http.host is ${host}, not a loopback address, and the HTTP API has no authentication`,
      )
      expect(m).toContain('http.allowUnauthenticated: true (DECIDER_HTTP_ALLOW_UNAUTHENTICATED=true)')
      expect(m).toContain('DECIDER_HTTP_TOKENS')
    }
    expect(configError(() => resolveWorkerConfig({}, { DECIDER_HTTP_HOST: '0.0.0.0' }))).toMatch(
      /not a loopback address/,
    )
  })

  it('is served with tokens, with http.allowUnauthenticated, with http off; the CLI is not refused', async () => {
    expect(
      resolveWorkerConfig({ http: { host: '0.0.0.0' } }, { DECIDER_HTTP_TOKENS: `ops:read:${T1}` }).http.host,
    ).toBe('0.0.0.0')
    expect(
      resolveWorkerConfig({ http: { host: '0.0.0.0', allowUnauthenticated: true } }, {}).http
        .allowUnauthenticated,
    ).toBe(true)
    expect(
      resolveWorkerConfig({ http: { host: '0.0.0.0' } }, { DECIDER_HTTP_ALLOW_UNAUTHENTICATED: 'true' }).http
        .allowUnauthenticated,
    ).toBe(true)
    expect(resolveWorkerConfig({ http: { host: '0.0.0.0', enabled: false } }, {}).http.enabled).toBe(false)
    expect(resolveWorkerConfig({ http: { host: '0.0.0.0' } }, {}, 'x', { serve: false }).http.host).toBe(
      '0.0.0.0',
    )
    // The CLI does not read the tokens file (it may not exist where the CLI runs).
    const dir = mkdtempSync(path.join(tmpdir(), 'kd-cli-config-'))
    const file = path.join(dir, 'worker.yaml')
    writeFileSync(file, 'http:\n  host: 0.0.0.0\n  auth:\n    tokensFile: /nonexistent/tokens\n')
    expect((await loadWorkerConfig(file, {}, { serve: false })).http.auth.tokens).toEqual([])
    await expect(loadWorkerConfig(file, {})).rejects.toThrow(/cannot read the tokens file/)
    expect(configError(() => resolveWorkerConfig({}, { DECIDER_HTTP_ALLOW_UNAUTHENTICATED: 'yes' }))).toBe(
      'DECIDER_HTTP_ALLOW_UNAUTHENTICATED=yes: use true or false',
    )
  })

  it('the shipped configs: config/worker.yaml binds loopback; config/worker.docker.yaml says allowUnauthenticated', async () => {
    const root = path.resolve(import.meta.dirname, '../..')
    expect((await loadWorkerConfig(path.join(root, 'config/worker.yaml'), {})).http.host).toBe('127.0.0.1')
    const docker = await loadWorkerConfig(path.join(root, 'config/worker.docker.yaml'), {})
    expect(docker.http).toMatchObject({ host: '0.0.0.0', allowUnauthenticated: true })
    const withTokens = await loadWorkerConfig(path.join(root, 'config/worker.docker.yaml'), {
      DECIDER_HTTP_TOKENS: `ops:read+write:${T1}`,
    })
    expect(httpAuthEnabled(withTokens.http)).toBe(true)
  })
})

describe('http.auth and http.tls combinations', () => {
  it('names the ones that cannot work', () => {
    expect(
      configError(() =>
        resolveWorkerConfig(
          { http: { auth: { clientCerts: [{ subject: 'CN=a', permissions: ['read'] }] } } },
          {},
        ),
      ),
    ).toMatch(
      /http\.auth\.clientCerts: client certificates need http\.tls with ca and requestClientCert: true/,
    )
    expect(
      configError(() =>
        resolveWorkerConfig({ http: { tls: { cert: 'c', key: 'k', requestClientCert: true } } }, {}),
      ),
    ).toMatch(/http\.tls\.requestClientCert: give http\.tls\.ca/)
    expect(configError(() => resolveWorkerConfig({ http: { auth: { protectMetrics: true } } }, {}))).toMatch(
      /http\.auth\.protectMetrics: there are no credentials to ask for/,
    )
    expect(
      configError(() =>
        resolveWorkerConfig({ http: { tls: { cert: 'c', key: 'k' }, advertisedUrl: 'http://w1:9464' } }, {}),
      ),
    ).toMatch(/announce an https:\/\/ URL/)
    expect(
      configError(() =>
        resolveWorkerConfig({ http: { headersTimeoutMs: 5000, requestTimeoutMs: 1000 } }, {}),
      ),
    ).toMatch(/http\.requestTimeoutMs \(1000\) must be at least http\.headersTimeoutMs \(5000\)/)
    expect(
      configError(() =>
        resolveWorkerConfig(
          { http: { auth: { clientCerts: [{ subject: 'reader', permissions: ['read'] }] } } },
          {},
        ),
      ),
    ).toMatch(/http\.auth\.clientCerts\.0\.subject: must be 'CN=<common name>'/)
  })

  it('client certificates alone are credentials: a non-loopback bind is served', () => {
    const c = resolveWorkerConfig(
      {
        http: {
          host: '0.0.0.0',
          tls: { cert: 'c.pem', key: 'k.pem', ca: 'ca.pem', requestClientCert: true },
          auth: { clientCerts: [{ subject: 'CN=reader', permissions: ['read'] }], protectMetrics: true },
        },
      },
      {},
    )
    expect(httpAuthEnabled(c.http)).toBe(true)
    expect(c.http.tls).toEqual({ cert: 'c.pem', key: 'k.pem', ca: 'ca.pem', requestClientCert: true })
  })
})
