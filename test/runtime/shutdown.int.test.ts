/** Graceful shutdown of a worker process: SIGTERM exits 0 within the deadline (second signal: test/cli/signals.test.ts). */
import { afterEach, describe, expect, it } from 'vitest'
import { spawnWorker, tempDir, waitForLog, writeBankTopology, type WorkerProcess } from '../support/eos.ts'

const started: WorkerProcess[] = []
afterEach(async () => {
  for (const w of started.splice(0)) {
    w.kill('SIGKILL')
    await w.exited
  }
})

async function runningWorker(prefix: string): Promise<WorkerProcess> {
  const dir = tempDir(prefix)
  const w = spawnWorker(writeBankTopology(dir, `${prefix}-${Date.now()}`), `${dir}/state`, {
    DECIDER_SHUTDOWN_TIMEOUT_MS: '10000',
  })
  started.push(w)
  await waitForLog(w, /task running/, 6, 90_000)
  return w
}

describe('worker shutdown', () => {
  it('SIGTERM: leaves the group, closes the stores and exits 0 within the deadline', async () => {
    const w = await runningWorker('term')
    const t0 = Date.now()
    w.kill('SIGTERM')
    expect(await w.exited).toBe(0)
    expect(Date.now() - t0).toBeLessThan(10_000)
    expect(w.output()).toMatch(/"msg":"worker stopped"/)
  })
})
