/**
 * Standby replicas against the real broker: worker A (in process, so its tasks and standbys can be looked at) and
 * worker B (a child process, SIGKILLed) share a bank-account topology with `standbyReplicas: 1`.
 */
import { afterAll, describe, expect, it } from 'vitest'
import pino from 'pino'
import { resolveWorkerConfig } from '../../src/config/worker-config.ts'
import { KafkaChangelogReader } from '../../src/kafka/changelog-reader.ts'
import { PartitionFetcher, RESTORE_FETCH } from '../../src/kafka/partition-fetcher.ts'
import type { Task } from '../../src/runtime/task.ts'
import { TaskState } from '../../src/runtime/task-state.ts'
import { loadTopology } from '../../src/topology/loader.ts'
import { Worker } from '../../src/worker/worker.ts'
import { kafkaBrokers, newKafka } from '../support/kafka.ts'
import {
  bankWorkload,
  sendCommands,
  spawnWorker,
  tempDir,
  verifyBankRun,
  waitForLog,
  waitForReplies,
  writeBankTopology,
  type Cmd,
  type WorkerProcess,
} from '../support/eos.ts'

const until = async (what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe('standby replicas (real broker)', () => {
  const dir = tempDir('standby')
  let a: Worker | undefined
  let b: WorkerProcess | undefined
  afterAll(async () => {
    b?.kill('SIGKILL')
    await a?.stop()
  })

  it('a killed worker’s partitions move to the standby’s worker, which replays only the delta; partitions that stay keep their tasks', async () => {
    const file = writeBankTopology(
      dir,
      `standby-${Date.now()}`,
      'processing:\n  standbyReplicas: 1\n  maxBatchCommands: 5\n',
    )
    const topology = await loadTopology(file)
    const kafka = newKafka('standby-int')
    a = new Worker({
      topologies: [topology],
      config: resolveWorkerConfig(
        {
          kafka: { brokers: kafkaBrokers() },
          stateDir: `${dir}/state-a`,
          http: { enabled: false },
          log: { level: 'silent' },
          consumer: { sessionTimeoutMs: 6000 },
        },
        {},
      ),
      logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    })
    await a.start()
    await until('worker A ready', () => a!.isReady(), 60_000)
    b = spawnWorker(file, `${dir}/state-b`)
    const runner = a.runners[0]!
    const running = () => [...runner.tasks.values()].filter((t) => t.state === TaskState.RUNNING)
    // Two members: A runs 3 partitions and keeps standbys of B's 3.
    await until(
      '3 tasks and 3 standbys on A',
      () => running().length === 3 && runner.standbys!.size === 3,
      90_000,
    )
    await waitForLog(b, /"msg":"task running"/, 3, 60_000)
    const mine = running().map((t) => t.partition)
    const moved = [...runner.standbys!.keys()].sort()
    expect([...mine, ...moved].sort()).toEqual([0, 1, 2, 3, 4, 5])

    const sent: Cmd[] = bankWorkload(7, 120, 2400)
    await sendCommands(kafka, topology.topics.commands, sent)
    await waitForReplies(kafka, topology.topics.replies, sent.length, 90_000)
    await until('standbys caught up', () => [...runner.standbys!.values()].every((s) => s.caughtUp), 30_000)
    const copied = [...runner.standbys!.values()].reduce((n, s) => n + s.replayed, 0)
    expect(copied).toBeGreaterThan(0)
    expect(a.readiness().details?.join()).toMatch(/3\/3 caught up/)

    // One standby stops copying here (as one that fell behind): its partition has a delta to replay for sure.
    const frozen = moved[0]!
    await runner.standbys!.get(frozen)!.close()
    // More commands while B dies: whatever the standbys have not copied is the delta.
    const more = bankWorkload(8, 120, 1200)
    sent.push(...more)
    const sending = sendCommands(kafka, topology.topics.commands, more, { chunk: 50, pauseMs: 20 })
    await new Promise((r) => setTimeout(r, 300))
    const tasksBefore = new Map<number, Task>(running().map((t) => [t.partition, t]))
    const standbyAt = new Map(moved.map((p) => [p, runner.standbys!.get(p)!.checkpoint!.changelogOffset]))
    b.kill('SIGKILL')
    await sending
    await until('A runs all 6 partitions', () => running().length === 6, 60_000)
    await waitForReplies(kafka, topology.topics.replies, sent.length, 90_000)

    // Partitions that stayed: the very same task objects (never closed and reopened by the rebalance).
    for (const p of mine) expect(runner.tasks.get(p)).toBe(tasksBefore.get(p))
    // Moved partitions: each task started from the standby's store and replayed exactly the changelog's committed
    // records past it (the delta), far fewer than a restore from nothing.
    const admin = kafka.admin()
    await admin.connect()
    const fetcher = new PartitionFetcher(kafka, RESTORE_FETCH)
    try {
      const count = async (p: number, from: bigint, to: bigint) => {
        let n = 0
        await new KafkaChangelogReader(fetcher, admin, topology.topics.changelog, p).read(
          from,
          to,
          async (r) => void (n += r.length),
          30_000,
        )
        return n
      }
      for (const p of moved) {
        const task = runner.tasks.get(p)!
        const trace = task.lastRestoreTrace!
        expect(trace.storeCheckpoint.changelogOffset).toBeGreaterThanOrEqual(standbyAt.get(p)!)
        const delta = await count(p, trace.storeCheckpoint.changelogOffset, trace.changelogEnd)
        const whole = await count(p, 0n, trace.changelogEnd)
        expect(task.lastRestoreRecords).toBe(delta)
        expect(whole).toBeGreaterThan(100)
        if (p === frozen) {
          expect(delta).toBeGreaterThan(0)
          expect(task.lastRestoreRecords).toBeLessThan(whole)
        } else expect(task.lastRestoreRecords).toBeLessThan(whole / 4)
      }
    } finally {
      await fetcher.close()
      await admin.disconnect()
    }
    const v = await verifyBankRun(kafka, topology.topics, sent)
    expect(v.problems).toEqual([])
  }, 300_000)
})
