/**
 * POST /commands/<topology> over a scripted sender: each reply status gets its HTTP status and comes back as the
 * reply envelope; the body is checked with a clear 400; timeouts, limits and the route's refusals.
 */
import type { AddressInfo } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { REPLY_STATUSES, type ReplyEnvelope, type ReplyStatus } from '../../src/domain/envelopes.ts'
import { ReplyTimeoutError, UsageError } from '../../src/errors.ts'
import { HTTP_STATUS_OF_REPLY, type CommandRequest, type CommandSender } from '../../src/http/commands.ts'
import { startHttp } from '../../src/http/server.ts'
import { createMetrics } from '../../src/metrics/metrics.ts'

const sent: { topology: string; cmd: CommandRequest; timeoutMs: number }[] = []
let outcome: (cmd: CommandRequest) => ReplyEnvelope | Error = (cmd) => reply(cmd, 'accepted')

function reply(cmd: CommandRequest, status: ReplyStatus): ReplyEnvelope {
  return {
    commandId: cmd.commandId,
    aggregateId: cmd.aggregateId,
    status,
    version: 1,
    events: status === 'accepted' ? [['AccountCreated', 1]] : [],
    ...(status === 'accepted' || status === 'duplicate'
      ? {}
      : { error: { code: `${status}_code`, message: 'm' } }),
  }
}

const send: CommandSender = async (topology, cmd, timeoutMs) => {
  sent.push({ topology, cmd, timeoutMs })
  const r = outcome(cmd)
  if (r instanceof Error) throw r
  return r
}

async function server(commands: Parameters<typeof startHttp>[0]['frontDoor']) {
  const s = await startHttp({
    host: '127.0.0.1',
    port: 0,
    registry: createMetrics().registry,
    readiness: () => ({ ready: true }),
    ...(commands ? { frontDoor: commands } : {}),
  })
  return { s, url: `http://127.0.0.1:${(s.address() as AddressInfo).port}` }
}

describe('POST /commands/<topology>', async () => {
  const { s, url } = await server({
    self: 'http://w1:1',
    commands: { topologies: ['bank'], send, maxTimeoutMs: 30_000, maxBodyBytes: 4096 },
  })
  afterAll(() => new Promise<void>((r) => s.close(() => r())))

  const post = async (body: unknown, o: { query?: string; type?: string; path?: string } = {}) => {
    const r = await fetch(`${url}${o.path ?? '/commands/bank'}${o.query ?? ''}`, {
      method: 'POST',
      headers: { 'content-type': o.type ?? 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    })
    return { status: r.status, body: (await r.json()) as Record<string, unknown>, headers: r.headers }
  }
  const cmd = { aggregateId: 'acc-1', type: 'CreateAccount', payload: { owner: 'Ada' } }

  it.each(REPLY_STATUSES)('reply %s -> its HTTP status, the reply envelope as the body', async (status) => {
    outcome = (c) => reply(c, status)
    const r = await post({ ...cmd, commandId: `c-${status}` })
    expect(r.status).toBe(HTTP_STATUS_OF_REPLY[status])
    expect(r.body).toEqual({
      ...reply({ ...cmd, commandId: `c-${status}` }, status),
      answeredBy: 'http://w1:1',
    })
    expect(r.headers.get('x-decider-answered-by')).toBe('http://w1:1')
  })

  it('the documented mapping', () => {
    expect(HTTP_STATUS_OF_REPLY).toEqual({
      accepted: 200,
      duplicate: 200,
      conflict: 409,
      rejected: 422,
      invalid: 422,
      failed: 500,
    })
  })

  it('sends the command as given; a new commandId when none, payload {} when none, the default or asked timeout', async () => {
    outcome = (c) => reply(c, 'accepted')
    sent.length = 0
    await post({
      ...cmd,
      commandId: 'c-1',
      expectedVersion: 0,
      metadata: { correlationId: 'corr', issuedAt: '2026-03-01T00:00:00Z' },
    })
    await post({ aggregateId: 'acc-2', type: 'Ping' }, { query: '?timeoutMs=2500' })
    expect(sent[0]).toEqual({
      topology: 'bank',
      cmd: {
        ...cmd,
        commandId: 'c-1',
        expectedVersion: 0,
        metadata: { correlationId: 'corr', issuedAt: '2026-03-01T00:00:00Z' },
      },
      timeoutMs: 10_000,
    })
    expect(sent[1]!.cmd).toMatchObject({ aggregateId: 'acc-2', type: 'Ping', payload: {} })
    expect(sent[1]!.cmd.commandId).toMatch(/^[0-9a-f-]{36}$/)
    expect(sent[1]!.timeoutMs).toBe(2500)
  })

  it.each([
    ['not JSON', '{"aggregateId":', /^the body is not JSON/],
    ['no type', { aggregateId: 'a', payload: {} }, /^the body is not a command: type: /],
    ['an unknown field', { ...cmd, aggregate: 'x' }, /unrecognized key.*"aggregate"/i],
    ['a negative expectedVersion', { ...cmd, expectedVersion: -1 }, /expectedVersion: /],
    ['an empty aggregateId', { ...cmd, aggregateId: '' }, /aggregateId: /],
    ['a reserved aggregateId', { ...cmd, aggregateId: '\u0000x' }, /^aggregateId: .*NUL/],
    ['an array', [cmd], /^the body is not a command: \(body\): /],
  ])(
    'a body with %s is 400 invalid_body, saying what is wrong; nothing sent',
    async (_what, body, message) => {
      sent.length = 0
      const r = await post(body)
      expect(r.status).toBe(400)
      expect(r.body.code).toBe('invalid_body')
      expect(String(r.body.error)).toMatch(message)
      expect(sent).toEqual([])
    },
  )

  it('timeoutMs outside 1..max is 400', async () => {
    for (const q of ['?timeoutMs=0', '?timeoutMs=abc', '?timeoutMs=30001', '?timeoutMs=1.5']) {
      const r = await post(cmd, { query: q })
      expect(r.status, q).toBe(400)
      expect(String(r.body.error)).toMatch(/^timeoutMs must be an integer in 1\.\.30000/)
    }
  })

  it('no reply in time is 504 reply_timeout with the commandId to send again; a pending pair 409; a failed send 503', async () => {
    outcome = () => new ReplyTimeoutError('no reply to command c-9 within 10000 ms')
    const late = await post({ ...cmd, commandId: 'c-9' })
    expect(late.status).toBe(504)
    expect(late.body).toMatchObject({ code: 'reply_timeout', commandId: 'c-9', aggregateId: 'acc-1' })
    expect(String(late.body.error)).toContain('send it again with commandId c-9')
    outcome = () => new UsageError('already waiting for the reply to command c-9 on aggregate acc-1')
    expect((await post({ ...cmd, commandId: 'c-9' })).body).toMatchObject({ code: 'reply_pending' })
    outcome = () => new Error('broker down')
    const down = await post({ ...cmd, commandId: 'c-9' })
    expect([down.status, down.body.code]).toEqual([503, 'send_failed'])
    expect(String(down.body.error)).toContain('broker down')
  })

  it('refuses other topologies (404), other methods (405), non-JSON bodies (415) and bodies above the limit (413)', async () => {
    const unknown = await post(cmd, { path: '/commands/nope' })
    expect([unknown.status, unknown.body.code]).toEqual([404, 'unknown_topology'])
    const get = await fetch(`${url}/commands/bank`)
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST'])
    const text = await post('hello', { type: 'text/plain' })
    expect([text.status, text.body.code]).toEqual([415, 'unsupported_media_type'])
    const big = await post({ ...cmd, payload: { owner: 'x'.repeat(5000) } })
    expect([big.status, big.body.code]).toEqual([413, 'body_too_large'])
    const bare = await post(cmd, { path: '/commands/' })
    expect(bare.status).toBe(400)
  })

  it('with http.commands false the route answers 404 commands_disabled', async () => {
    const off = await server({ self: 'w', commands: { topologies: ['bank'] } })
    try {
      const r = await fetch(`${off.url}/commands/bank`, { method: 'POST', body: JSON.stringify(cmd) })
      expect(r.status).toBe(404)
      expect(await r.json()).toMatchObject({ code: 'commands_disabled' })
    } finally {
      await new Promise<void>((r) => off.s.close(() => r()))
    }
  })
})
