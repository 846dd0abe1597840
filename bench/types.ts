/** The types of the bench: its options and its result (shared by the phases, the table and the chart). */

export interface BenchOptions {
  /** Use these brokers; otherwise a single-node local broker is started (and stopped). */
  brokers?: string[]
  /** Commands preloaded for each throughput run (EOS, at-least-once loop, scale-out). */
  backlog: number
  /** Distinct accounts the throughput workload touches. */
  accounts: number
  /** Seconds the rate-limited latency producer sends, per load level. */
  latencySeconds: number
  /** Aggregates written to the changelog for the scale phase. */
  aggregates: number
  /** Worker process counts of the scale-out phase. */
  workers: number[]
  /** Record size of the ProducerPerformance baseline. */
  recordSize: number
  /** Records the ProducerPerformance baseline sends. */
  perfRecords: number
  /** When set, the 1-worker throughput/latency worker and the restoring worker run with `--cpu-prof` into this directory. */
  profileDir?: string
  /** dedupe.perAggregate of the bench topologies (undefined: the topology default, 32). It sizes every snapshot. */
  dedupeWindow?: number
  /** JSON result file directory (null: do not write). */
  resultsDir?: string | null
  /** SVG chart path (null/undefined: do not write). */
  chartFile?: string | null
  log?: (msg: string) => void
}

export interface Latency {
  targetRate: number
  achievedRate: number
  sent: number
  replied: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  maxMs: number
}

export interface Throughput {
  workers: number
  /** preloaded: backlog before the workers, clock from ready; after-ready: clock from producing the backlog. */
  mode: 'preloaded' | 'after-ready'
  commands: number
  seconds: number
  commandsPerSec: number
  transactionsPerSec: number
  meanBatch: number
}

export interface BenchResult {
  startedAt: string
  durationSeconds: number
  options: Omit<BenchOptions, 'log'>
  machine: { nproc: number; cpuModel: string; memTotalMb: number; node: string; loadAvgAtStart: number[] }
  baselines: {
    producerPerformance: {
      records: number
      recordSize: number
      recordsPerSec: number
      mbPerSec: number
      line: string
    }
    kafkajsAtLeastOnce: { commands: number; seconds: number; commandsPerSec: number }
  }
  eos: {
    throughput: Throughput
    latencyFull: Latency
    latencyHalf: Latency
    /** At 10% of full load: the latency floor of the path (not a target, for context). */
    latencyLow: Latency
  }
  scale: {
    aggregates: number
    changelogFillPerSec: number
    restoreSeconds: number
    restoreSnapshotsPerSec: number
    firstReadySeconds: number
    rssMb: number
    peakRssMb: number
    readyAfterKillSeconds: number
    /** Of which: until the restarted process answered HTTP (process start, module load); the rest is the group. */
    httpUpAfterKillSeconds: number
    /** Changelog records the restarted worker replayed (0: the state dir was complete). */
    restoredAfterKill: number
    rssAfterRestartMb: number
  }
  scaleOut: Throughput[]
  targets: { name: string; value: number; target: string; met: boolean }[]
}
