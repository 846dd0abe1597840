/**
 * A transaction that outlives processing.transactionTimeoutMs: the coordinator aborts it and bumps the producer's
 * epoch, so the producer's next call fails with INVALID_PRODUCER_EPOCH, which is fencing to us
 * (test/kafka-proof/fencing.int.test.ts pins that on the broker). The task then "fences itself" while still the
 * partition's owner; it is handled like a fence (closed, a fresh task later) but reported as what it is: its own
 * metric and a log that says what to change. Over the in-memory twins: a commit hook advances the task's clock
 * past the timeout and does what the coordinator does (aborts the open transaction, bumps the epoch).
 */
import { describe, expect, it } from 'vitest'
import pino from 'pino'
import type { AnyDecider } from '../../src/domain/decider.ts'
import { createMetrics, METRIC, metricsListener } from '../../src/metrics/metrics.ts'
import { Task } from '../../src/runtime/task.ts'
import { TaskState } from '../../src/runtime/task-state.ts'
import { MemoryLog } from '../../src/testing/memory-log.ts'
import { memoryTaskPorts } from '../../src/testing/memory-ports.ts'
import { produceCommands } from '../../src/testing/records.ts'
import { fromDecider } from '../../src/topology/loader.ts'
import bank from '../../topologies/bank-account.ts'

function harness() {
  const topology = fromDecider(bank as unknown as AnyDecider, {
    name: 'bank',
    partitions: 1,
    processing: {
      maxBatchCommands: 50,
      maxBytesPerPartition: 1_048_576,
      transactionTimeoutMs: 1000,
      snapshotCacheSize: 100,
    },
  })
  const log = new MemoryLog()
  const ports = memoryTaskPorts({ topology, partition: 0, log })
  const lines: Record<string, unknown>[] = []
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) })
  const clock = { now: 1_000_000 }
  const metrics = createMetrics()
  const seen = { fenced: 0, timedOut: [] as number[] }
  const observe = metricsListener(metrics, 'bank')
  const task = new Task({
    topology,
    partition: 0,
    ports,
    logger,
    partitioner: () => 0,
    now: () => clock.now,
    listener: {
      fenced: (t) => (seen.fenced++, observe.fenced?.(t)),
      transactionTimedOut: (t, openMs) => (
        seen.timedOut.push(openMs),
        observe.transactionTimedOut?.(t, openMs)
      ),
    },
  })
  const send = (id: string) =>
    produceCommands(log, topology.topics.commands, 0, [
      { aggregateId: id, commandId: `create-${id}`, type: 'CreateAccount', payload: { owner: id } },
    ])
  const counter = async (name: string) =>
    (await metrics.registry.getSingleMetric(name)!.get()).values.reduce((n, v) => n + v.value, 0)
  return { log, ports, task, lines, clock, seen, send, counter, topology }
}

describe('a transaction that outlives transactionTimeoutMs', () => {
  it('is told apart from a fence by another owner: own metric, a log with what to change, handled like a fence', async () => {
    const h = harness()
    await h.task.initialize()
    h.send('acc-1')
    h.ports.faults.beforeNext('commit', () => {
      h.clock.now += 1500 // the send took longer than the transaction timeout...
      h.log.initProducerId(h.ports.transactionalId) // ...so the coordinator aborted it and bumped the epoch
    })
    const records = h.log.inputRecords(h.topology.topics.commands, 0, 0n)
    const outcome = await h.task.process(records, () => undefined)
    expect(outcome).toEqual({ kind: 'fenced' })
    expect(h.task.state).toBe(TaskState.CLOSED)
    expect(h.seen).toEqual({ fenced: 0, timedOut: [1500] })
    expect(await h.counter(METRIC.transactionTimeouts)).toBe(1)
    expect(await h.counter(METRIC.fenced)).toBe(0)
    const line = h.lines.find(
      (l) => (l.err as { code?: string } | undefined)?.code === 'transaction_timed_out',
    )
    expect(line?.msg).toMatch(/processing\.transactionTimeoutMs/)
    expect(line?.msg).toMatch(/processing\.maxBatchCommands/)
    expect(line).toMatchObject({ openMs: 1500, transactionTimeoutMs: 1000, commands: 1 })
  })

  it('a fence that comes within the timeout stays a fence (another owner took the partition)', async () => {
    const h = harness()
    await h.task.initialize()
    h.send('acc-1')
    h.ports.faults.beforeNext('commit', () => {
      h.clock.now += 200
      h.log.initProducerId(h.ports.transactionalId)
    })
    const records = h.log.inputRecords(h.topology.topics.commands, 0, 0n)
    expect(await h.task.process(records, () => undefined)).toEqual({ kind: 'fenced' })
    expect(h.seen).toEqual({ fenced: 1, timedOut: [] })
    expect(await h.counter(METRIC.transactionTimeouts)).toBe(0)
    expect(await h.counter(METRIC.fenced)).toBe(1)
  })
})
