/** The types of the bench: its options and its result (shared by the phases, the table and the chart). */
import type { KstreamsPhaseResult } from './kstreams/types.ts'

export type { KstreamsPhaseResult, SteadyDrain, SteadyPair } from './kstreams/types.ts'

/** The phases of a bench run, in the order they run (`--only` picks some). */
export const PHASES = [
  'baselines',
  'eos',
  'scale',
  'scaleout',
  'failover',
  'spread',
  'kstreams',
  'kslatency',
] as const
export type Phase = (typeof PHASES)[number]

export interface BenchOptions {
  /** Use these brokers; otherwise a single-node local broker is started (and stopped). */
  brokers?: string[]
  /** Commands preloaded for each throughput run (EOS, at-least-once loop, scale-out). */
  backlog: number
  /** Distinct accounts the throughput workload touches. */
  accounts: number
  /** Seconds the rate-limited latency producer sends, per load level. */
  latencySeconds: number
  /**
   * eos phase: the offered rates of its three latency levels (commands/s) instead of 100%, 50% and 10% of its drain,
   * so that runs of two builds or settings offer the same load (the levels keep their names).
   */
  latencyRates?: [number, number, number]
  /** Aggregates written to the changelog for the scale phase. */
  aggregates: number
  /** Worker process counts of the scale-out phase. */
  workers: number[]
  /** The phases to run (default: all of PHASES). */
  phases?: Phase[]
  /** Aggregates seeded into the changelog for each failover run. */
  failoverAggregates: number
  /** Commands per second the failover phase sends, before, during and after the kill. */
  failoverRate: number
  /** One failover run per value: processing.standbyReplicas of its topology (written to the YAML only when > 0). */
  failoverStandbys: number[]
  /** Seconds of load before the kill (the "before" latency: its 10 s that end 2 s before the kill). */
  failoverWarmupSeconds: number
  /** The spread phase (bench/spread.ts): aggregates seeded, commands per second to random ones, seconds measured. */
  spreadAggregates: number
  spreadRate: number
  spreadSeconds: number
  /** kstreams phase: commands preloaded for each steady-state drain (Kafka Streams, then kafka-decider). */
  steadyBacklog: number
  /** kstreams phase: one pair of drains per value, the backlog spread over this many aggregates. */
  steadyAggregates: number[]
  /**
   * kslatency phase: offered rates, commands/s (undefined: 50% and 10% of the eos phase's drain when it ran, else
   * 10,000 and 2,000), and one Kafka Streams run per commit.interval.ms value.
   */
  ksLatencyRates?: number[]
  ksCommitIntervalsMs: number[]
  /** kslatency phase: seconds of unrecorded load before each app's levels. */
  ksWarmupSeconds: number
  /**
   * At most this many seconds of load on a throwaway topology before the phases, until the broker's JIT compilers
   * are quiet (bench/warmup.ts); 0: none (the phases meet a cold broker, as before).
   */
  brokerWarmupSeconds: number
  /** Partitions of the bench topologies (the commands topic and the outputs): one task and transaction each. */
  partitions: number
  /** `processing` keys written into the bench topologies (e.g. fetchMinBytes); not with the failover phase. */
  processing?: Record<string, number>
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
  /** Until the reply was written (its record timestamp, set by the worker's producer), not until visible. */
  written?: { p50Ms: number; p99Ms: number; maxMs: number }
  /** Over the level (eos phase): transactions/s, commands per transaction, worker and broker CPU s per 1,000 commands. */
  load?: {
    transactionsPerSec: number
    meanBatch: number
    workerCpuPer1k: number
    brokerCpuPer1k: number
    /** Of the broker's: its JIT compiler threads (a broker still warming up). */
    brokerJitCpuPer1k?: number
    /** CPU s per 1,000 commands of the bench process itself: the rate-limited producer and the replies consumer. */
    benchCpuPer1k?: number
    /** Share of all the machine's cores busy over the level (/proc/stat), 0..1. */
    machineBusy?: number
    /** Mean ms per batch of each step of decider_batch_step_seconds over the level. */
    batchSplitMs?: Record<string, number>
  }
}

/** The broker's warm-up before the phases (bench/warmup.ts). */
export interface BrokerWarmup {
  seconds: number
  /** CPU seconds of the broker's JIT compiler threads over the warm-up. */
  compilerCpuSeconds: number
  /** Whether the last window was quiet (false: the time ran out first). */
  quiet: boolean
  /** Each window's offered rate and the compiler threads' CPU in cores over it. */
  windows: { rate: number; compilerCores: number }[]
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
  /** CPU seconds per 1,000 commands of the worker processes (all of them) and of the broker, over the clocked drain (bench/cpu.ts). */
  workerCpuPer1k: number
  brokerCpuPer1k: number
  /** Seconds of V8 garbage-collection pauses per 1,000 commands (workers' prom-client metrics): young and old generation. */
  gcMinorPer1k: number
  gcMajorPer1k: number
  /** Mean ms per batch of each step of decider_batch_step_seconds (wait, load, decide, offsets, produce, commit, other, store). */
  batchSplitMs: Record<string, number>
}

/** Latency figures of a set of commands (ms); `sent` of them, `replied` with a reply. */
export interface LatencySummary {
  sent: number
  replied: number
  p50Ms: number
  p99Ms: number
  maxMs: number
}

/** One failover run: 2 workers, one SIGKILLed under a fixed command rate (bench/failover.ts). */
export interface FailoverResult {
  standbyReplicas: number
  aggregates: number
  rate: number
  sessionTimeoutMs: number
  changelogFillPerSec: number
  /** From starting both workers until both /readyz 200 (the restore of the seeded changelog). */
  bothReadySeconds: number
  /** Partitions of the commands topic the killed worker owned just before the kill. */
  movedPartitions: number[]
  /** From the kill until describeGroups first showed a state other than Stable (NaN: never seen). */
  killToRebalanceMs: number
  /** From the first non-Stable state until Stable with only the survivor (the rebalance duration). */
  rebalanceMs: number
  /** From the kill until Stable with only the survivor. */
  killToStableMs: number
  /** Per moved partition: from the kill until the first reply to a command sent after the kill. */
  moved: { partition: number; fromKillMs: number }[]
  /** The last moved partition to answer: from the kill, and from Stable. */
  movedAnswerFromKillMs: number
  movedAnswerFromStableMs: number
  /** From Stable until the survivor's tasks of every partition were RUNNING (polled every ~100 ms). */
  movedRunningFromStableMs: number
  /** Commands sent to the moved partitions from the kill until then: what they had to catch up on. */
  queuedOnMoved: number
  /** Changelog records the survivor's restores replayed for the moved partitions (the restore's size). */
  survivorReplayed: number
  /** Commands to all partitions sent in the 10 s that end 2 s before the kill (shorter when the warm-up is). */
  before: LatencySummary
  /** Of those, answered only after the kill (or never). */
  beforeAnsweredAfterKill: number
  /** Commands to the partitions that did not move, sent from the kill until all moved ones answered + 2 s. */
  nonMovedDuring: LatencySummary
  /**
   * The same commands until the survivor produced the reply (the reply record's timestamp), not until a
   * read_committed consumer saw it: a killed worker's open transaction holds back the replies partitions it wrote
   * to (all of them: replies are keyed by commandId) until it is aborted.
   */
  nonMovedDuringWritten: LatencySummary
  /** The longest a reply (commands sent from 1 s before the kill on) was written but not yet visible. */
  repliesHeldBackMs: number
  /** All commands of the run (sent / replied at the end). */
  sent: number
  replied: number
  /** VmHWM of the surviving worker at the end (its whole life: its restore and the failover). */
  survivorPeakRssMb: number
  survivorRssMb: number
}

export interface BenchResult {
  startedAt: string
  durationSeconds: number
  options: Omit<BenchOptions, 'log'>
  machine: { nproc: number; cpuModel: string; memTotalMb: number; node: string; loadAvgAtStart: number[] }
  /** The phases that ran; the figures of the others are absent. */
  phases: Phase[]
  /** The broker's warm-up before the phases (absent: none, or no broker process to watch). */
  brokerWarmup?: BrokerWarmup
  baselines?: {
    producerPerformance: {
      records: number
      recordSize: number
      recordsPerSec: number
      mbPerSec: number
      line: string
    }
    kafkajsAtLeastOnce: { commands: number; seconds: number; commandsPerSec: number }
  }
  eos?: {
    throughput: Throughput
    latencyFull: Latency
    latencyHalf: Latency
    /** At 10% of full load: the latency floor of the path (not a target, for context). */
    latencyLow: Latency
  }
  scale?: {
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
  scaleOut?: Throughput[]
  failover?: FailoverResult[]
  spread?: SpreadResult
  /** Steady-state drains: a Kafka Streams exactly_once_v2 app and kafka-decider on the same backlog. */
  kstreams?: KstreamsPhaseResult
  /** Latency of the Kafka Streams baseline and of kafka-decider at the same offered rates (bench/kstreams-latency.ts). */
  kslatency?: KsLatencyResult
  targets: { name: string; value: number; target: string; met: boolean }[]
}

/** 6. Latency with many aggregates, commands spread over all of them (bench/spread.ts). */
export interface SpreadResult {
  aggregates: number
  rate: number
  seconds: number
  /** Command -> reply visible to a read_committed consumer, and -> reply written (the reply record's timestamp). */
  visible: LatencySummary
  written: LatencySummary
  workerCpuPer1k: number
  gcMinorPer1k: number
  gcMajorPer1k: number
}

/** One offered rate of the kslatency phase. CPU: s per 1,000 replied commands, from the first command sent to the last reply. */
export interface KsLatencyLevel {
  rate: number
  achievedRate: number
  sent: number
  replied: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  maxMs: number
  appCpuPer1k: number
  brokerCpuPer1k: number
  /** Share of all the machine's cores busy over the level, 0..1. */
  machineBusy: number
}

export interface KsLatencyRun {
  app: 'kafka-streams' | 'kafka-decider'
  /** Kafka Streams' version (kafka-streams runs). */
  version?: string
  /** commit.interval.ms of Kafka Streams; processing.commitIntervalMs of the decider. */
  commitIntervalMs: number
  levels: KsLatencyLevel[]
}

export interface KsLatencyResult {
  rates: number[]
  accounts: number
  seconds: number
  runs: KsLatencyRun[]
}
