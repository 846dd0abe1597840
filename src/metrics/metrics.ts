/** Every metric and label name, in one place. The registry is owned by the worker (never the global one). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { TaskListener } from '../runtime/task.ts'
import type { ReplyStatus } from '../domain/envelopes.ts'

export const METRIC = {
  commands: 'decider_commands_processed_total',
  events: 'decider_events_written_total',
  deadLetters: 'decider_dead_letters_total',
  transactions: 'decider_transactions_total',
  commitSeconds: 'decider_batch_commit_seconds',
  batchSize: 'decider_batch_commands',
  fenced: 'decider_producers_fenced_total',
  rebalances: 'decider_rebalances_total',
  assigned: 'decider_assigned_partitions',
  taskState: 'decider_task_state',
  restoredRecords: 'decider_restore_records_total',
  restoreSeconds: 'decider_restore_seconds',
  buildInfo: 'decider_build_info',
} as const

export type Metrics = ReturnType<typeof createMetrics>

export function createMetrics(registry = new Registry()) {
  collectDefaultMetrics({ register: registry })
  const labels = ['topology', 'partition'] as const
  const m = {
    registry,
    commands: new Counter({ name: METRIC.commands, help: 'Commands processed, by outcome (reply status)', labelNames: ['topology', 'partition', 'outcome'], registers: [registry] }),
    events: new Counter({ name: METRIC.events, help: 'Events written', labelNames: labels, registers: [registry] }),
    deadLetters: new Counter({ name: METRIC.deadLetters, help: 'Records dead-lettered, by reason', labelNames: ['topology', 'reason'], registers: [registry] }),
    transactions: new Counter({ name: METRIC.transactions, help: 'Transactions, by result (committed | aborted)', labelNames: ['topology', 'partition', 'result'], registers: [registry] }),
    commitSeconds: new Histogram({ name: METRIC.commitSeconds, help: 'Time to process and commit one batch', labelNames: ['topology'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] }),
    batchSize: new Histogram({ name: METRIC.batchSize, help: 'Commands per transaction', labelNames: ['topology'], buckets: [1, 5, 10, 50, 100, 250, 500, 1000, 5000], registers: [registry] }),
    fenced: new Counter({ name: METRIC.fenced, help: 'Producers fenced by a newer owner', labelNames: labels, registers: [registry] }),
    rebalances: new Counter({ name: METRIC.rebalances, help: 'Group joins (rebalances) seen', labelNames: ['topology'], registers: [registry] }),
    assigned: new Gauge({ name: METRIC.assigned, help: 'Input partitions assigned to this worker', labelNames: ['topology'], registers: [registry] }),
    taskState: new Gauge({ name: METRIC.taskState, help: '1 for the current state of each task', labelNames: ['topology', 'partition', 'state'], registers: [registry] }),
    restoredRecords: new Counter({ name: METRIC.restoredRecords, help: 'Changelog records replayed into the local store', labelNames: labels, registers: [registry] }),
    restoreSeconds: new Histogram({ name: METRIC.restoreSeconds, help: 'Duration of task restores', labelNames: ['topology'], buckets: [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300], registers: [registry] }),
    buildInfo: new Gauge({ name: METRIC.buildInfo, help: 'Build information', labelNames: ['version', 'node'], registers: [registry] }),
  }
  return m
}

export function metricsListener(m: Metrics, topology: string): TaskListener & { rebalanced(assigned: number[]): void } {
  return {
    stateChanged(task, from, to) {
      const partition = String(task.partition)
      m.taskState.set({ topology, partition, state: from }, 0)
      m.taskState.set({ topology, partition, state: to }, 1)
    },
    committed(task, batch, seconds) {
      const partition = String(task.partition)
      for (const [outcome, n] of Object.entries(batch.outcomes.byStatus) as [ReplyStatus, number][]) {
        if (n > 0) m.commands.inc({ topology, partition, outcome }, n)
      }
      for (const [reason, n] of Object.entries(batch.outcomes.deadLetters)) if (n) m.deadLetters.inc({ topology, reason }, n)
      if (batch.outcomes.events > 0) m.events.inc({ topology, partition }, batch.outcomes.events)
      m.transactions.inc({ topology, partition, result: 'committed' })
      m.commitSeconds.observe({ topology }, seconds)
      const size = Object.values(batch.outcomes.byStatus).reduce((a, b) => a + b, 0)
      m.batchSize.observe({ topology }, size)
    },
    aborted(task) {
      m.transactions.inc({ topology, partition: String(task.partition), result: 'aborted' })
    },
    restored(task, records, seconds) {
      m.restoredRecords.inc({ topology, partition: String(task.partition) }, records)
      m.restoreSeconds.observe({ topology }, seconds)
    },
    fenced(task) {
      m.fenced.inc({ topology, partition: String(task.partition) })
    },
    rebalanced(assigned) {
      m.rebalances.inc({ topology })
      m.assigned.set({ topology }, assigned.length)
    },
  }
}
