/** A short simulated run through every listener hook (no Kafka): what a worker's registry holds after one. */
import type { InputRecord } from '../../src/runtime/ports.ts'
import { emptyOutcomes, type BatchResult } from '../../src/runtime/processor.ts'
import type { Task } from '../../src/runtime/task.ts'
import { TaskState } from '../../src/runtime/task-state.ts'
import { metricsListener, type Metrics } from '../../src/metrics/metrics.ts'
import { projectionListener } from '../../src/metrics/projection-metrics.ts'
import type { ProjectionTask } from '../../src/runtime/projection-task.ts'

export const fakeTask = (partition: number, cacheUsage = { entries: 0, bytes: 0 }) =>
  ({ partition, id: `t[${partition}]`, cacheUsage }) as unknown as Task

export function input(offset: number, timestamp = Date.now() - 50): InputRecord {
  return {
    partition: 0,
    offset: BigInt(offset),
    key: Buffer.from('a'),
    value: Buffer.from('x'),
    timestamp: String(timestamp),
  }
}

export function batch(
  statuses: Partial<Record<keyof ReturnType<typeof emptyOutcomes>['byStatus'], number>>,
  extra: Partial<BatchResult['outcomes']> = {},
): BatchResult {
  const outcomes = { ...emptyOutcomes(), ...extra }
  Object.assign(outcomes.byStatus, statuses)
  return {
    records: [],
    snapshots: new Map([['a', {} as never]]),
    snapshotBytes: new Map(),
    outcomes,
    firstOffset: 0n,
    lastOffset: 0n,
  }
}

export async function simulatedRun(m: Metrics, topology = 'sim'): Promise<void> {
  const l = metricsListener(m, topology, { stateDir: '/nonexistent' })
  l.rebalancing?.()
  l.rebalanced?.([0, 1])
  for (const p of [0, 1]) {
    const t = fakeTask(p)
    l.stateChanged?.(t, TaskState.CREATED, TaskState.INITIALIZING)
    l.stateChanged?.(t, TaskState.INITIALIZING, TaskState.RESTORING)
    l.restoreProgress?.(t, 10)
    l.restoreProgress?.(t, 0)
    l.restored?.(t, 10, 0.2)
    l.stateChanged?.(t, TaskState.RESTORING, TaskState.RUNNING)
    l.committed?.(
      t,
      batch({ accepted: 2, rejected: 1, invalid: 1 }, { events: 2, deadLetters: { invalid_payload: 1 } }),
      0.01,
      {
        commitSeconds: 0.005,
        inputs: [input(0), input(1), input(2), input(3)],
        split: {
          wait: 0,
          load: 0.001,
          decide: 0.002,
          offsets: 0.001,
          produce: 0.002,
          commit: 0.001,
          other: 0,
          store: 0.001,
        },
      },
    )
    l.aborted?.(t, new Error('x'))
    l.fenced?.(t)
    l.positionAfterBatch?.(p, 10n, 4n)
  }
  simulatedProjection(m, `${topology}-projection`)
  await m.registry.metrics()
}

/** Every hook of a projection's metrics listener: routing, projecting (duplicates, dead letters), restore, lag. */
export function simulatedProjection(m: Metrics, projection: string): void {
  const l = projectionListener(m, projection)
  l.routed?.({ events: 5, routed: 6, deadLettered: 1 }, 0.01)
  for (const p of [0, 1]) {
    const t = { partition: p, id: `${projection}[${p}]` }
    l.stateChanged?.(t, TaskState.CREATED, TaskState.RESTORING)
    l.restored?.(t as unknown as ProjectionTask, 3, 0.1)
    l.stateChanged?.(t, TaskState.RESTORING, TaskState.RUNNING)
    l.projected?.(
      t as unknown as ProjectionTask,
      { applied: 3, duplicates: 1, deadLettered: 1, views: 2 },
      0.02,
    )
    l.positionAfterBatch?.(p, 10n, 6n)
  }
}
