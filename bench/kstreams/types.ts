/** Result types of the kstreams phase (bench/kstreams.ts). */

/** One steady-state drain of a preloaded backlog by one app (one process), from its first commit to the end. */
export interface SteadyDrain {
  app: 'kafka-streams' | 'kafka-decider'
  /** The consumer group whose committed offsets of the commands topic are the drain figure (application.id / topology name). */
  group: string
  aggregates: number
  /** Commands preloaded (the whole backlog). */
  backlog: number
  /** Commands of the clocked window: from the first commit (its offsets excluded) to the end. */
  commands: number
  seconds: number
  commandsPerSec: number
  /** The second half of the window only (the JIT and the caches are warmer there). */
  secondHalfCommandsPerSec: number
  /** From the process start until its first commit (JVM or Node start, group join, restore, first transaction). */
  startToFirstCommitSeconds: number
  /** True when the first commit already covered half the backlog or more: the clock then ran from the process start. */
  clockedFromStart: boolean
  /** utime + stime (/proc/<pid>/stat) of the app process over the window, and per 1,000 commands of it. */
  appCpuSeconds: number
  appCpuSecondsPer1k: number
  /** The same of the broker process (NaN when its pid is unknown, e.g. a broker in a container). */
  brokerCpuSeconds: number
  brokerCpuSecondsPer1k: number
  /** VmHWM of the app process at the end of the drain (MB). */
  appPeakRssMb: number
  /** Replies on the replies topic (read_committed) after the drain, and their distinct commandIds (keys). */
  replies: number
  distinctReplies: number
  /** Replies per status (accepted, rejected, ...): the same for both apps on the same backlog. */
  replyStatuses: Record<string, number>
}

export interface SteadyPair {
  aggregates: number
  kafkaStreams: SteadyDrain
  decider: SteadyDrain
  /** decider commands/s over Kafka Streams commands/s. */
  ratio: number
}

export interface KstreamsPhaseResult {
  /** Kafka Streams version of the app (the broker's version line, config/kafka/pom.xml). */
  kafkaStreamsVersion: string
  backlog: number
  dedupeWindow: number
  /** Seconds the Maven build of the app took in this run (0: the cached build under .cache/kstreams was used). */
  buildSeconds: number
  runs: SteadyPair[]
}
