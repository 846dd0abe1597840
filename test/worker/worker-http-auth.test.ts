/**
 * The worker wires http.auth and the bounds into its server (no broker: a stand-in runner): tokens from the
 * environment guard the reads, /livez stays open, and the start's log lines name the tokens and their permissions
 * but contain no token.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { resolveWorkerConfig } from '../../src/config/worker-config.ts'
import type { AnyDecider } from '../../src/domain/decider.ts'
import { TaskState } from '../../src/runtime/task-state.ts'
import { fromDecider } from '../../src/topology/loader.ts'
import type { WorkerRunner } from '../../src/worker/topology-runner.ts'
import { Worker } from '../../src/worker/worker.ts'
import bank from '../../topologies/bank-account.ts'

const READER = 'worker-reader-token-0123456789'
const WRITER = 'worker-writer-token-0123456789'

describe('Worker HTTP auth', () => {
  it('serves reads to a token with read only, keeps /livez open, and never logs a token', async () => {
    const lines: string[] = []
    const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) })
    const config = resolveWorkerConfig(
      {
        kafka: { brokers: ['127.0.0.1:1'] },
        stateDir: mkdtempSync(path.join(tmpdir(), 'kd-worker-auth-')),
        http: { port: 0, commands: false, maxUrlBytes: 512 },
      },
      { DECIDER_HTTP_TOKENS: `reader:read:${READER},writer:write:${WRITER}` },
    )
    const task = {
      state: TaskState.RUNNING,
      committedSnapshot: async (aggregateId: string) => ({ aggregateId, version: 1, state: {}, recent: [] }),
    }
    const runner: WorkerRunner = {
      name: 'bank',
      tasks: new Map([[0, task]]) as unknown as WorkerRunner['tasks'],
      isReady: () => true,
      stalls: () => [],
      start: async () => undefined,
      stop: async () => undefined,
    }
    const worker = new Worker({
      topologies: [fromDecider(bank as unknown as AnyDecider, { name: 'bank', partitions: 1 })],
      config,
      logger,
      createRunner: () => runner,
    })
    await worker.start()
    try {
      const url = worker.httpAddress!
      expect((await fetch(`${url}/livez`)).status).toBe(200)
      const none = await fetch(`${url}/state/bank/acc-1`)
      expect(none.status).toBe(401)
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/)
      const writer = await fetch(`${url}/state/bank/acc-1`, {
        headers: { authorization: `Bearer ${WRITER}` },
      })
      expect(writer.status).toBe(403)
      const reader = await fetch(`${url}/state/bank/acc-1`, {
        headers: { authorization: `Bearer ${READER}` },
      })
      expect(reader.status).toBe(200)
      expect(await reader.json()).toMatchObject({ aggregateId: 'acc-1', version: 1 })
      // http.maxUrlBytes from the config.
      expect((await fetch(`${url}/state/bank/${'x'.repeat(600)}`)).status).toBe(414)
    } finally {
      await worker.stop()
    }
    const log = lines.join('')
    expect(log).not.toContain(READER)
    expect(log).not.toContain(WRITER)
    const listening = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => /http listening/.test(String(l.msg)))
    expect(listening).toMatchObject({
      auth: { tokens: ['reader:read', 'writer:write'], protectMetrics: false },
    })
  })
})
