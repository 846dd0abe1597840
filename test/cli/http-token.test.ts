/**
 * `decider state` and `decider events` with --url against a worker with http.auth on: the token from --token or
 * DECIDER_TOKEN is sent; without one the worker's 401 is printed with a hint (exit 1). `decider run` refuses a
 * non-loopback bind without credentials before it starts (exit 2, naming http.allowUnauthenticated).
 */
import { afterAll, describe, expect, it } from 'vitest'
import { tokenDigest } from '../../src/config/http-credentials.ts'
import { workerHttp } from '../http/worker-http.fixture.ts'
import { runCli } from './run-cli.ts'

const BANK = 'topologies/bank-account.yaml'
const env = { KAFKA_BROKERS: '127.0.0.1:1' }
const TOKEN = 'cli-read-token-0123456789'

const w = await workerHttp({
  topologyName: 'bank-account',
  auth: { tokens: [{ name: 'cli', permissions: ['read'], sha256: tokenDigest(TOKEN) }] },
})
afterAll(() => w.close())

describe('CLI reads with a token', () => {
  it('state and events send --token or DECIDER_TOKEN; without one, the 401 with a hint', async () => {
    const [flag, variable, none, events, eventsNone, run] = await Promise.all([
      runCli(['state', BANK, 'acc-1', '--url', w.url, '--token', TOKEN], env),
      runCli(['state', BANK, 'acc-1', '--url', w.url], { ...env, DECIDER_TOKEN: TOKEN }),
      runCli(['state', BANK, 'acc-1', '--url', w.url], env),
      runCli(['events', BANK, 'acc-1', '--url', w.url], { ...env, DECIDER_TOKEN: TOKEN }),
      runCli(['events', BANK, 'acc-1', '--url', w.url], env),
      runCli(['run', BANK], { ...env, DECIDER_HTTP_HOST: '0.0.0.0' }),
    ])
    expect(flag.code, flag.stderr).toBe(0)
    expect(JSON.parse(flag.stdout)).toMatchObject({ aggregateId: 'acc-1', version: 1 })
    expect(variable.code, variable.stderr).toBe(0)
    expect(none.code).toBe(1)
    expect(none.stderr).toMatch(/this route needs credentials.*\(give a token: --token or DECIDER_TOKEN\)/)
    // The fixture's index has no events of acc-1: reached with the token, refused without.
    expect(events.stderr).toMatch(/aggregate acc-1: no events \(the event index of the worker/)
    expect(eventsNone.code).toBe(1)
    expect(eventsNone.stderr).toMatch(/this route needs credentials.*--token or DECIDER_TOKEN/)
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(
      /http\.host is 0\.0\.0\.0, not a loopback address.*http\.allowUnauthenticated: true/,
    )
  }, 60_000)
})
