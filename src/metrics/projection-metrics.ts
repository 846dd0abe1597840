/**
 * The metrics of projections (names and labels in metrics.ts): events routed and applied, duplicates dropped, dead
 * letters, views written, lag of the projection stage per partition, task states, batch time, restore.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { TaskState } from '../runtime/task-state.ts'
import type { ProjectionListener } from '../worker/projection-runner.ts'
import { LABEL, METRIC, type Metrics } from './metrics.ts'

const PP = [LABEL.projection, LABEL.partition] as const

function create(registry: Registry) {
  const registers = [registry]
  return {
    events: new Counter({
      name: METRIC.projectionEvents,
      help: 'Events through a projection, by stage (route: read from a source; project: applied) and result (ok, duplicate: delivered again and skipped, dead_letter)',
      labelNames: [LABEL.projection, LABEL.stage, LABEL.result],
      registers,
    }),
    views: new Counter({
      name: METRIC.projectionViews,
      help: 'Views written (changed or deleted) to the views changelog and the local store',
      labelNames: [LABEL.projection],
      registers,
    }),
    deadLetters: new Counter({
      name: METRIC.projectionDeadLetters,
      help: 'Events a projection dead-lettered (errors.onProjectError: dead-letter), by stage',
      labelNames: [LABEL.projection, LABEL.stage],
      registers,
    }),
    lag: new Gauge({
      name: METRIC.projectionLag,
      help: 'Repartition offsets not yet applied by the projection task: high watermark minus position',
      labelNames: PP,
      registers,
    }),
    taskState: new Gauge({
      name: METRIC.projectionTaskState,
      help: 'Projection task state (1 for the current state of each partition this worker owns)',
      labelNames: [...PP, LABEL.state],
      registers,
    }),
    batchSeconds: new Histogram({
      name: METRIC.projectionBatchSeconds,
      help: 'Time to apply and commit one batch of a projection task',
      labelNames: [LABEL.projection],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    restored: new Counter({
      name: METRIC.projectionRestoredRecords,
      help: 'Views changelog records replayed into local stores',
      labelNames: [LABEL.projection],
      registers,
    }),
  }
}

const byRegistry = new WeakMap<Registry, ReturnType<typeof create>>()

/** Hooks of one projection -> metrics (created in the worker's registry on first use). */
export function projectionListener(metrics: Metrics, projection: string): ProjectionListener {
  let m = byRegistry.get(metrics.registry)
  if (m === undefined) byRegistry.set(metrics.registry, (m = create(metrics.registry)))
  const pm = m
  return {
    routed(stats) {
      pm.events.inc({ projection, stage: 'route', result: 'ok' }, stats.events - stats.deadLettered)
      if (stats.deadLettered > 0) {
        pm.events.inc({ projection, stage: 'route', result: 'dead_letter' }, stats.deadLettered)
        pm.deadLetters.inc({ projection, stage: 'route' }, stats.deadLettered)
      }
    },
    projected(_task, stats, seconds) {
      pm.events.inc({ projection, stage: 'project', result: 'ok' }, stats.applied)
      if (stats.duplicates > 0)
        pm.events.inc({ projection, stage: 'project', result: 'duplicate' }, stats.duplicates)
      if (stats.deadLettered > 0) {
        pm.events.inc({ projection, stage: 'project', result: 'dead_letter' }, stats.deadLettered)
        pm.deadLetters.inc({ projection, stage: 'project' }, stats.deadLettered)
      }
      pm.views.inc({ projection }, stats.views)
      pm.batchSeconds.observe({ projection }, seconds)
    },
    restored(_task, records) {
      pm.restored.inc({ projection }, records)
    },
    positionAfterBatch(partition, highWatermark, position) {
      const lag = highWatermark > position ? Number(highWatermark - position) : 0
      pm.lag.set({ projection, partition: String(partition) }, lag)
    },
    stateChanged(task, _from, to) {
      const partition = String(task.partition)
      for (const state of Object.values(TaskState)) pm.taskState.remove({ projection, partition, state })
      if (to !== TaskState.CLOSED) pm.taskState.set({ projection, partition, state: to }, 1)
      else pm.lag.remove({ projection, partition })
    },
  }
}
