/**
 * Every metric and label name, in one place. The registry is owned by the worker (never the global one).
 * Base units (seconds, bytes), counters end in `_total`, labels are low-cardinality only: topology,
 * partition, outcome/result/reason/state — never aggregate or command ids.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { ReplyStatus } from '../domain/envelopes.ts'
import type { ConsumerLoopListener } from '../kafka/consumer-loop.ts'
import type { Task, TaskListener } from '../runtime/task.ts'
import type { TaskManagerListener } from '../runtime/task-manager.ts'
import { TaskState } from '../runtime/task-state.ts'
import { storeDir } from '../state/level-store.ts'
import { snapshotCacheGauges, type TaskCaches } from './cache-metrics.ts'
import { dirSize, type StoreDirs } from './store-size.ts'
import { TallyHistogram } from './tally-histogram.ts'

export const METRIC = {
  commands: 'decider_commands_processed_total',
  commandSeconds: 'decider_command_processing_seconds',
  commandLatency: 'decider_command_latency_seconds',
  events: 'decider_events_written_total',
  deadLetters: 'decider_dead_letters_total',
  transactions: 'decider_transactions_total',
  commitSeconds: 'decider_transaction_commit_seconds',
  batchSeconds: 'decider_batch_seconds',
  batchStepSeconds: 'decider_batch_step_seconds',
  batchSize: 'decider_batch_commands',
  fenced: 'decider_producers_fenced_total',
  transactionTimeouts: 'decider_transaction_timeouts_total',
  initFailures: 'decider_task_init_failures',
  rebalances: 'decider_rebalances_total',
  assigned: 'decider_assigned_partitions',
  taskState: 'decider_task_state',
  restoredRecords: 'decider_restore_records_total',
  restoreRemaining: 'decider_restore_records_remaining',
  restoreSeconds: 'decider_restore_seconds',
  standbyLag: 'decider_standby_lag_records',
  standbyRecords: 'decider_standby_records_total',
  lag: 'decider_consumer_lag_records',
  highWatermark: 'decider_input_high_watermark',
  position: 'decider_input_position',
  snapshotsWritten: 'decider_snapshots_written_total',
  storeBytes: 'decider_state_store_bytes',
  snapshotCacheEntries: 'decider_snapshot_cache_entries',
  snapshotCacheBytes: 'decider_snapshot_cache_bytes',
  buildInfo: 'decider_build_info',
  // projections (projection-metrics.ts)
  projectionEvents: 'decider_projection_events_total',
  projectionViews: 'decider_projection_views_written_total',
  projectionDeadLetters: 'decider_projection_dead_letters_total',
  projectionLag: 'decider_projection_lag_records',
  projectionTaskState: 'decider_projection_task_state',
  projectionBatchSeconds: 'decider_projection_batch_seconds',
  projectionRestoredRecords: 'decider_projection_restore_records_total',
} as const

export const LABEL = {
  topology: 'topology',
  partition: 'partition',
  outcome: 'outcome',
  result: 'result',
  reason: 'reason',
  state: 'state',
  projection: 'projection',
  stage: 'stage',
} as const

const TP = [LABEL.topology, LABEL.partition] as const
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export type Metrics = ReturnType<typeof createMetrics>

export function createMetrics(registry = new Registry()) {
  collectDefaultMetrics({ register: registry })
  const storeDirs: StoreDirs = new Map()
  const caches: TaskCaches = new Map()
  const registers = [registry]
  const m = {
    registry,
    storeDirs,
    caches,
    ...snapshotCacheGauges(
      registers,
      caches,
      { entries: METRIC.snapshotCacheEntries, bytes: METRIC.snapshotCacheBytes },
      TP,
    ),
    commands: new Counter({
      name: METRIC.commands,
      help: 'Commands processed (committed), by outcome (the reply status)',
      labelNames: [...TP, LABEL.outcome],
      registers,
    }),
    // Observed per command: the cheap histogram (tally-histogram.ts), same series as prom-client's.
    commandSeconds: new TallyHistogram(
      {
        name: METRIC.commandSeconds,
        help: 'Per command: time from the start of its batch (snapshot load, decide) to the commit of its transaction',
        labelNames: [LABEL.topology],
        buckets: LATENCY_BUCKETS,
      },
      registers,
    ),
    commandLatency: new TallyHistogram(
      {
        name: METRIC.commandLatency,
        help: 'Per command: end-to-end latency from the command record timestamp to the commit of its transaction',
        labelNames: [LABEL.topology],
        buckets: LATENCY_BUCKETS,
      },
      registers,
    ),
    events: new Counter({
      name: METRIC.events,
      help: 'Events written (committed)',
      labelNames: TP,
      registers,
    }),
    deadLetters: new Counter({
      name: METRIC.deadLetters,
      help: 'Input records dead-lettered (committed), by reason',
      labelNames: [LABEL.topology, LABEL.reason],
      registers,
    }),
    transactions: new Counter({
      name: METRIC.transactions,
      help: 'Batch transactions, by result (committed | aborted)',
      labelNames: [...TP, LABEL.result],
      registers,
    }),
    commitSeconds: new Histogram({
      name: METRIC.commitSeconds,
      help: 'Duration of one transaction commit (produce, sendOffsets, commit)',
      labelNames: [LABEL.topology],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    batchSeconds: new Histogram({
      name: METRIC.batchSeconds,
      help: 'Duration of one batch: snapshot load, decide and commit',
      labelNames: [LABEL.topology],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    batchStepSeconds: new Histogram({
      name: METRIC.batchStepSeconds,
      help:
        "Where a batch's wall-clock time went, by step: wait (from the fetch of its first records until it starts: behind the partition's previous batch), load (snapshots), " +
        'decide (decode and decide), offsets (AddOffsetsToTxn, TxnOffsetCommit), produce (AddPartitionsToTxn, Produce), ' +
        'commit (EndTxn), other (begin), store (LevelDB write after the commit)',
      labelNames: [LABEL.topology, 'step'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    batchSize: new Histogram({
      name: METRIC.batchSize,
      help: 'Commands per transaction',
      labelNames: [LABEL.topology],
      buckets: [1, 5, 10, 50, 100, 250, 500, 1000, 5000],
      registers,
    }),
    fenced: new Counter({
      name: METRIC.fenced,
      help: 'Producers fenced by a newer owner of their transactional id',
      labelNames: TP,
      registers,
    }),
    transactionTimeouts: new Counter({
      name: METRIC.transactionTimeouts,
      help: 'Transactions the coordinator aborted for outliving processing.transactionTimeoutMs (the task fenced itself)',
      labelNames: TP,
      registers,
    }),
    initFailures: new Gauge({
      name: METRIC.initFailures,
      help: 'Failed initialisations in a row of the task of each partition (0 once one is RUNNING)',
      labelNames: TP,
      registers,
    }),
    rebalances: new Counter({
      name: METRIC.rebalances,
      help: 'Group joins (rebalances) this worker took part in',
      labelNames: [LABEL.topology],
      registers,
    }),
    assigned: new Gauge({
      name: METRIC.assigned,
      help: 'Input partitions assigned to this worker',
      labelNames: [LABEL.topology],
      registers,
    }),
    taskState: new Gauge({
      name: METRIC.taskState,
      help: '1 for the current state of the task of each assigned partition, 0 for the other states',
      labelNames: [...TP, LABEL.state],
      registers,
    }),
    restoredRecords: new Counter({
      name: METRIC.restoredRecords,
      help: 'Changelog records replayed into the local store',
      labelNames: TP,
      registers,
    }),
    restoreRemaining: new Gauge({
      name: METRIC.restoreRemaining,
      help: 'Changelog offsets still to replay by the restore under way (0 when none)',
      labelNames: TP,
      registers,
    }),
    standbyLag: new Gauge({
      name: METRIC.standbyLag,
      help: 'Per standby replica kept here: changelog records behind the partition’s last stable offset (<= 1: caught up)',
      labelNames: TP,
      registers,
    }),
    standbyRecords: new Counter({
      name: METRIC.standbyRecords,
      help: 'Changelog and events records copied into standby replicas here',
      labelNames: TP,
      registers,
    }),
    restoreSeconds: new Histogram({
      name: METRIC.restoreSeconds,
      help: 'Duration of task restores (0 records on a clean restart)',
      labelNames: [LABEL.topology],
      buckets: [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers,
    }),
    lag: new Gauge({
      name: METRIC.lag,
      help: 'Input offsets not yet processed: high watermark minus position (from offsets, not record counts)',
      labelNames: TP,
      registers,
    }),
    highWatermark: new Gauge({
      name: METRIC.highWatermark,
      help: 'High watermark of the input partition at the last fetched batch',
      labelNames: TP,
      registers,
    }),
    position: new Gauge({
      name: METRIC.position,
      help: 'Next input offset the task will process (committed position)',
      labelNames: TP,
      registers,
    }),
    snapshotsWritten: new Counter({
      name: METRIC.snapshotsWritten,
      help: 'Aggregate snapshots written (changelog + local store)',
      labelNames: TP,
      registers,
    }),
    storeBytes: new Gauge({
      name: METRIC.storeBytes,
      help: 'Approximate size on disk of the local snapshot store (LevelDB files) of each task of this worker',
      labelNames: TP,
      registers,
      async collect() {
        this.reset()
        for (const { topology, partition, dir } of storeDirs.values()) {
          const bytes = await dirSize(dir)
          if (bytes !== undefined) this.set({ topology, partition }, bytes)
        }
      },
    }),
    buildInfo: new Gauge({
      name: METRIC.buildInfo,
      help: 'Build information (always 1)',
      labelNames: ['version', 'node'],
      registers,
    }),
  }
  return m
}

export interface MetricsListenerOptions {
  /** The worker's stateDir: task stores live in `<stateDir>/<topology>/<partition>`. */
  stateDir?: string
  now?: () => number
}

/** What a worker observes of one topology: its tasks', its task manager's and its consumer loop's hooks. */
export type WorkerListener = TaskListener &
  TaskManagerListener &
  ConsumerLoopListener & {
    /** A standby replica's lag after a round; undefined when the standby is closed here. */
    standbyLag?(partition: number, records: number | undefined): void
    standbyReplayed?(partition: number, records: number): void
  }

/** Task and group hooks of one topology -> metrics. */
export function metricsListener(
  m: Metrics,
  topology: string,
  o: MetricsListenerOptions = {},
): WorkerListener {
  const now = o.now ?? Date.now
  // The newest task of each partition owns its state series (an old task may still be closing).
  const seq = new WeakMap<Task, number>()
  let nextSeq = 0
  const owner = new Map<number, Task>()
  const lagPartitions = new Set<number>()
  const initFailing = new Set<number>()
  const seqOf = (t: Task) => {
    let s = seq.get(t)
    if (s === undefined) seq.set(t, (s = nextSeq++))
    return s
  }
  const key = (p: number | string) => `${topology}\u0000${p}`
  const forgetPartition = (p: number) => {
    const partition = String(p)
    for (const g of [m.lag, m.highWatermark, m.position, m.restoreRemaining, m.initFailures])
      g.remove({ topology, partition })
    lagPartitions.delete(p)
    initFailing.delete(p)
    for (const state of Object.values(TaskState)) m.taskState.remove({ topology, partition, state })
    m.storeDirs.delete(key(p))
    m.caches.delete(key(p))
    owner.delete(p)
  }

  return {
    standbyLag(partition, records) {
      if (records === undefined) m.standbyLag.remove({ topology, partition: String(partition) })
      else m.standbyLag.set({ topology, partition: String(partition) }, records)
    },
    standbyReplayed(partition, records) {
      m.standbyRecords.inc({ topology, partition: String(partition) }, records)
    },
    stateChanged(task, _from, to) {
      const mine = seqOf(task) // first seen = created; tasks of a partition are created one after the other
      const current = owner.get(task.partition)
      if (current !== undefined && current !== task && mine < seqOf(current)) return
      if (to === TaskState.CLOSED) {
        // Revoked, fenced or shut down: its series go (a new task of the partition starts them again).
        const partition = String(task.partition)
        for (const state of Object.values(TaskState)) m.taskState.remove({ topology, partition, state })
        m.restoreRemaining.remove({ topology, partition })
        m.storeDirs.delete(key(task.partition))
        m.caches.delete(key(task.partition))
        owner.delete(task.partition)
        return
      }
      owner.set(task.partition, task)
      const partition = String(task.partition)
      for (const state of Object.values(TaskState))
        m.taskState.set({ topology, partition, state }, state === to ? 1 : 0)
      if (to === TaskState.RUNNING)
        m.caches.set(key(task.partition), { topology, partition, usage: () => task.cacheUsage })
      if (to === TaskState.RUNNING && o.stateDir !== undefined) {
        m.storeDirs.set(key(task.partition), {
          topology,
          partition,
          dir: storeDir(o.stateDir, topology, task.partition),
        })
      }
    },
    committed(task, batch, seconds, detail) {
      const partition = String(task.partition)
      let size = 0
      for (const [outcome, n] of Object.entries(batch.outcomes.byStatus) as [ReplyStatus, number][]) {
        if (n > 0) m.commands.inc({ topology, partition, outcome }, n)
        size += n
      }
      for (const [reason, n] of Object.entries(batch.outcomes.deadLetters))
        if (n) m.deadLetters.inc({ topology, reason }, n)
      if (batch.outcomes.events > 0) m.events.inc({ topology, partition }, batch.outcomes.events)
      if (batch.snapshots.size > 0) m.snapshotsWritten.inc({ topology, partition }, batch.snapshots.size)
      m.transactions.inc({ topology, partition, result: 'committed' })
      m.batchSeconds.observe({ topology }, seconds)
      m.batchSize.observe({ topology }, size)
      if (detail === undefined) return
      m.commitSeconds.observe({ topology }, detail.commitSeconds)
      for (const step in detail.split)
        m.batchStepSeconds.observe({ topology, step }, detail.split[step as keyof typeof detail.split])
      const committedAt = now()
      // Per command: the labelled children once per batch. Every command of the batch took the batch's time.
      m.commandSeconds.labels({ topology }).observeMany(seconds, detail.inputs.length)
      const commandLatency = m.commandLatency.labels({ topology })
      for (const r of detail.inputs) {
        const ts = Number(r.timestamp)
        if (Number.isFinite(ts) && ts > 0) commandLatency.observe(Math.max(0, committedAt - ts) / 1000)
      }
    },
    aborted(task) {
      m.transactions.inc({ topology, partition: String(task.partition), result: 'aborted' })
    },
    restoreProgress(task, remaining) {
      m.restoreRemaining.set({ topology, partition: String(task.partition) }, remaining)
    },
    restored(task, records, seconds) {
      m.restoredRecords.inc({ topology, partition: String(task.partition) }, records)
      m.restoreSeconds.observe({ topology }, seconds)
    },
    fenced(task) {
      m.fenced.inc({ topology, partition: String(task.partition) })
    },
    transactionTimedOut(task) {
      m.transactionTimeouts.inc({ topology, partition: String(task.partition) })
    },
    initFailures(partition, inARow) {
      if (inARow > 0) initFailing.add(partition)
      m.initFailures.set({ topology, partition: String(partition) }, inARow)
    },
    rebalanced(assigned) {
      m.rebalances.inc({ topology })
      m.assigned.set({ topology }, assigned.length)
      const mine = new Set(assigned)
      for (const p of [...owner.keys()]) if (!mine.has(p)) forgetPartition(p)
      // Offsets of partitions that moved away are someone else's to report now.
      for (const p of [...lagPartitions, ...initFailing]) if (!mine.has(p)) forgetPartition(p)
    },
    positionAfterBatch(partition, highWatermark, position) {
      const labels = { topology, partition: String(partition) }
      const hw = Number(highWatermark)
      const pos = Number(position)
      lagPartitions.add(partition)
      m.highWatermark.set(labels, hw)
      m.position.set(labels, pos)
      m.lag.set(labels, Math.max(0, hw - pos))
    },
  }
}
