/** metricsListener: what each hook records, on a registry of its own (no Kafka). */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Registry } from 'prom-client'
import { createMetrics, METRIC, metricsListener } from '../../src/metrics/metrics.ts'
import { TaskState } from '../../src/runtime/task-state.ts'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { batch, fakeTask, input } from './simulate.ts'

async function values(m: ReturnType<typeof createMetrics>, name: string) {
  const metric = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name)
  return (metric?.values ?? []) as {
    labels: Record<string, string | number>
    value: number
    metricName?: string
  }[]
}

const SPLIT = { wait: 0, load: 0, decide: 0, offsets: 0, produce: 0, commit: 0, other: 0, store: 0 }

describe('metrics', () => {
  it('uses its own registry, never the global one, with default process metrics and base units', async () => {
    const a = createMetrics()
    const b = createMetrics()
    expect(a.registry).not.toBe(b.registry)
    expect(a.registry).toBeInstanceOf(Registry)
    const names = (await a.registry.getMetricsAsJSON()).map((x) => x.name)
    expect(names).toEqual(
      expect.arrayContaining([
        'process_cpu_seconds_total',
        'process_resident_memory_bytes',
        'nodejs_eventloop_lag_seconds',
      ]),
    )
    for (const n of names.filter((x) => x.startsWith('decider_'))) {
      const type = (await a.registry.getMetricsAsJSON()).find((x) => x.name === n)!.type
      if (String(type) === 'counter') expect(n).toMatch(/_total$/)
      expect(n).not.toMatch(/_(ms|milliseconds|kb|mb)(_|$)/)
    }
  })

  it('counts committed commands by outcome, events, dead letters by reason, transactions, latencies', async () => {
    const m = createMetrics()
    const l = metricsListener(m, 'topo', { now: () => 10_000 })
    const t = fakeTask(3)
    l.committed?.(
      t,
      batch({ accepted: 3, rejected: 1, duplicate: 1 }, { events: 4, deadLetters: { undecodable: 2 } }),
      0.5,
      {
        commitSeconds: 0.2,
        inputs: [input(0, 9_000), input(1, 9_500), input(2, 9_900), input(3, 9_900), input(4, 9_900)],
        split: {
          wait: 0.1,
          load: 0.05,
          decide: 0.04,
          offsets: 0.03,
          produce: 0.07,
          commit: 0.09,
          other: 0.01,
          store: 0.02,
        },
      },
    )
    l.aborted?.(t, new Error('x'))
    const cmds = await values(m, METRIC.commands)
    expect(Object.fromEntries(cmds.map((v) => [v.labels.outcome, v.value]))).toEqual({
      accepted: 3,
      rejected: 1,
      duplicate: 1,
    })
    expect(cmds[0]!.labels).toMatchObject({ topology: 'topo', partition: '3' })
    expect((await values(m, METRIC.deadLetters))[0]).toMatchObject({
      labels: { topology: 'topo', reason: 'undecodable' },
      value: 2,
    })
    expect((await values(m, METRIC.events))[0]!.value).toBe(4)
    expect(
      Object.fromEntries((await values(m, METRIC.transactions)).map((v) => [v.labels.result, v.value])),
    ).toEqual({ committed: 1, aborted: 1 })
    const latency = await values(m, METRIC.commandLatency)
    expect(latency.find((v) => v.metricName?.endsWith('_count'))!.value).toBe(5)
    expect(latency.find((v) => v.metricName?.endsWith('_sum'))!.value).toBeCloseTo(1 + 0.5 + 0.1 * 3)
    expect(
      (await values(m, METRIC.commitSeconds)).find((v) => v.metricName?.endsWith('_sum'))!.value,
    ).toBeCloseTo(0.2)
    expect(
      (await values(m, METRIC.commandSeconds)).find((v) => v.metricName?.endsWith('_count'))!.value,
    ).toBe(5)
    expect((await values(m, METRIC.batchSize)).find((v) => v.metricName?.endsWith('_sum'))!.value).toBe(5)
    const split = (await values(m, METRIC.batchStepSeconds)).filter((v) => v.metricName?.endsWith('_sum'))
    expect(Object.fromEntries(split.map((v) => [v.labels.step, v.value]))).toEqual({
      wait: 0.1,
      load: 0.05,
      decide: 0.04,
      offsets: 0.03,
      produce: 0.07,
      commit: 0.09,
      other: 0.01,
      store: 0.02,
    })
  })

  it('lag = high watermark - position per partition; forgotten when the partition moves away', async () => {
    const m = createMetrics()
    const l = metricsListener(m, 'topo')
    l.rebalanced?.([0, 1])
    l.positionAfterBatch?.(0, 100n, 40n)
    l.positionAfterBatch?.(1, 7n, 7n)
    expect(
      Object.fromEntries((await values(m, METRIC.lag)).map((v) => [v.labels.partition, v.value])),
    ).toEqual({ '0': 60, '1': 0 })
    l.rebalanced?.([1])
    expect((await values(m, METRIC.lag)).map((v) => v.labels.partition)).toEqual(['1'])
    expect((await values(m, METRIC.assigned))[0]!.value).toBe(1)
    expect((await values(m, METRIC.rebalances))[0]!.value).toBe(2)
  })

  it('task state: one series set to 1 per partition, owned by the newest task; removed when it closes', async () => {
    const m = createMetrics()
    const l = metricsListener(m, 'topo')
    const current = async () =>
      (await values(m, METRIC.taskState))
        .filter((v) => v.value === 1)
        .map((v) => `${v.labels.partition}:${v.labels.state}`)
    const old = fakeTask(0)
    l.stateChanged?.(old, TaskState.CREATED, TaskState.INITIALIZING)
    l.stateChanged?.(old, TaskState.INITIALIZING, TaskState.RESTORING)
    expect(await current()).toEqual(['0:RESTORING'])
    l.stateChanged?.(old, TaskState.RESTORING, TaskState.RUNNING)
    const fresh = fakeTask(0)
    l.stateChanged?.(fresh, TaskState.CREATED, TaskState.INITIALIZING)
    l.stateChanged?.(old, TaskState.RUNNING, TaskState.CLOSING) // the old task closing late does not override
    l.stateChanged?.(old, TaskState.CLOSING, TaskState.CLOSED)
    expect(await current()).toEqual(['0:INITIALIZING'])
    l.stateChanged?.(fresh, TaskState.INITIALIZING, TaskState.CLOSING)
    l.stateChanged?.(fresh, TaskState.CLOSING, TaskState.CLOSED)
    expect(await values(m, METRIC.taskState)).toEqual([])
  })

  it('stalls: failed initialisations in a row per partition (0 once RUNNING, gone once revoked), transaction timeouts', async () => {
    const m = createMetrics()
    const l = metricsListener(m, 'topo')
    l.rebalanced?.([1, 2])
    l.initFailures?.(1, 1)
    l.initFailures?.(1, 2)
    l.initFailures?.(2, 1)
    l.initFailures?.(2, 0)
    const byPartition = async () =>
      Object.fromEntries((await values(m, METRIC.initFailures)).map((v) => [v.labels.partition, v.value]))
    expect(await byPartition()).toEqual({ 1: 2, 2: 0 })
    l.rebalanced?.([2])
    expect(await byPartition()).toEqual({ 2: 0 })
    l.transactionTimedOut?.(fakeTask(2), 12_000)
    expect((await values(m, METRIC.transactionTimeouts))[0]).toMatchObject({
      labels: { partition: '2' },
      value: 1,
    })
    expect(await values(m, METRIC.fenced)).toEqual([])
  })

  it('restores: remaining offsets, records replayed, duration', async () => {
    const m = createMetrics()
    const l = metricsListener(m, 'topo')
    const t = fakeTask(2)
    l.restoreProgress?.(t, 500)
    expect((await values(m, METRIC.restoreRemaining))[0]!.value).toBe(500)
    l.restoreProgress?.(t, 0)
    l.restored?.(t, 499, 1.5)
    expect((await values(m, METRIC.restoreRemaining))[0]!.value).toBe(0)
    expect((await values(m, METRIC.restoredRecords))[0]!.value).toBe(499)
    expect(
      (await values(m, METRIC.restoreSeconds)).find((v) => v.metricName?.endsWith('_count'))!.value,
    ).toBe(1)
  })

  it('snapshot store size: snapshots written, and the bytes on disk of each RUNNING task store', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'kd-metrics-store-'))
    mkdirSync(join(stateDir, 'topo', '1'), { recursive: true })
    writeFileSync(join(stateDir, 'topo', '1', '000001.ldb'), Buffer.alloc(1234))
    writeFileSync(join(stateDir, 'topo', '1', 'LOG'), Buffer.alloc(66))
    const m = createMetrics()
    const l = metricsListener(m, 'topo', { stateDir })
    const t = fakeTask(1)
    l.stateChanged?.(t, TaskState.RESTORING, TaskState.RUNNING)
    l.committed?.(t, batch({ accepted: 1 }), 0.01, { commitSeconds: 0.01, inputs: [input(0)], split: SPLIT })
    expect((await values(m, METRIC.snapshotsWritten))[0]!.value).toBe(1)
    expect(await values(m, METRIC.storeBytes)).toEqual([
      expect.objectContaining({ labels: { topology: 'topo', partition: '1' }, value: 1300 }),
    ])
    l.stateChanged?.(t, TaskState.RUNNING, TaskState.CLOSING)
    l.stateChanged?.(t, TaskState.CLOSING, TaskState.CLOSED)
    expect(await values(m, METRIC.storeBytes)).toEqual([])
  })

  it('snapshot cache: entries and encoded bytes of each RUNNING task, read at scrape time, gone when it closes', async () => {
    const m = createMetrics()
    const l = metricsListener(m, 'topo')
    const usage = { entries: 0, bytes: 0 }
    const t = fakeTask(2, usage)
    l.stateChanged?.(t, TaskState.RESTORING, TaskState.RUNNING)
    usage.entries = 3
    usage.bytes = 4096
    const labels = { topology: 'topo', partition: '2' }
    expect(await values(m, METRIC.snapshotCacheEntries)).toEqual([
      expect.objectContaining({ labels, value: 3 }),
    ])
    expect(await values(m, METRIC.snapshotCacheBytes)).toEqual([
      expect.objectContaining({ labels, value: 4096 }),
    ])
    l.stateChanged?.(t, TaskState.RUNNING, TaskState.CLOSING)
    l.stateChanged?.(t, TaskState.CLOSING, TaskState.CLOSED)
    expect(await values(m, METRIC.snapshotCacheEntries)).toEqual([])
    expect(await values(m, METRIC.snapshotCacheBytes)).toEqual([])
  })
})
