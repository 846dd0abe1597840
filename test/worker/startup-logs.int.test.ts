/**
 * A worker's start on the real broker, in JSON mode at debug level: kafkajs' start-up retries (coordinator not
 * available or loading, no leader yet) are not warnings, and once up the worker logs the 'worker ready' line,
 * whose `decider send` command line works as printed.
 */
import { execFile } from 'node:child_process'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { spawnWorker, tempDir, waitForLog, writeBankTopology, type WorkerProcess } from '../support/eos.ts'
import { kafkaBrokers, uniqueName } from '../support/kafka.ts'
import { ROOT } from '../cli/run-cli.ts'

interface Line {
  level: number
  msg: string
  component?: string
  error?: string
  send?: string[]
  http?: { metrics: string; health: string[]; state: string[] }
}

let worker: WorkerProcess | undefined

afterAll(async () => {
  worker?.kill('SIGKILL')
  await worker?.exited
})

describe('worker start-up logs', () => {
  it('has no kafkajs warnings on a normal start and ends with a ready line whose send command works', async () => {
    const dir = tempDir('startup-logs')
    const file = writeBankTopology(dir, uniqueName('logs'))
    worker = spawnWorker(file, path.join(dir, 'state'), {
      DECIDER_LOG_FORMAT: 'json',
      DECIDER_LOG_LEVEL: 'debug',
    })
    await waitForLog(worker, /"msg":"worker ready/, 1, 60_000)

    const lines = worker
      .output()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Line) // JSON mode: every line is one JSON object
    const kafkajs = lines.filter((l) => l.component === 'kafkajs')
    expect(
      kafkajs.filter((l) => l.level >= 40).map((l) => `${l.msg} ${l.error ?? ''}`),
      'kafkajs warnings during a normal start',
    ).toEqual([])
    const demoted = kafkajs.filter((l) => /coordinator|leader/i.test(l.error ?? ''))
    console.log(`[startup-logs] kafkajs coordinator/leader retries logged at debug: ${demoted.length}`)

    const ready = lines.find((l) => l.msg.startsWith('worker ready'))!
    expect(ready.level).toBe(30)
    expect(ready.http?.metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    const metrics = await fetch(ready.http!.metrics)
    expect(metrics.status).toBe(200)
    const send = ready.send![0]!
    expect(send).toMatch(
      /^npx decider send \S+ --type CreateAccount --id example-1 --payload '\{"owner":"example"\}' --wait$/,
    )

    // The command line as printed (npx decider = bin/decider.js here), through a shell.
    const reply = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        'bash',
        ['-c', send.replace(/^npx decider/, `node ${path.join(ROOT, 'bin/decider.js')}`)],
        { cwd: ROOT, env: { ...process.env, KAFKA_BROKERS: kafkaBrokers().join(',') }, timeout: 40_000 },
        (e, stdout, stderr) => resolve({ code: e ? Number(e.code ?? 1) : 0, stdout, stderr }),
      ),
    )
    expect(reply.code, reply.stderr).toBe(0)
    expect(JSON.parse(reply.stdout)).toMatchObject({ status: 'accepted', aggregateId: 'example-1' })
  }, 120_000)
})
