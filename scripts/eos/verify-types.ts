/** The options and the summary of the exactly-once verifier (scripts/eos/verifier.ts). */

export interface VerifyOptions {
  brokers: string[]
  seed: number
  commands: number
  accounts: number
  workers: number
  /** SIGKILLs to perform at least (more if the stream is still flowing). */
  kills: number
  /** 3 -> 1 -> 3 scale cycles to perform at least. */
  scaleCycles: number
  /** Malformed records per 10,000 commands. */
  malformedPer10k: number
  /**
   * Hostile input (scripts/eos/hostile.ts): hostile records per 10,000 commands, and rounds of transactional
   * producers (one aborted and one committed transaction each); 0 = none.
   */
  hostilePer10k?: number
  transactionRounds?: number
  /** Bound on the longest time one partition's committed offset may stand still while it has lag. */
  maxPartitionStallMs?: number
  /** Send rate (commands/s); the chaos runs while sending. */
  rate: number
  /** Called to kill and restart one broker (3-broker mode); undefined = no broker restarts. */
  restartBroker?: () => Promise<void>
  brokerRestarts: number
  replicationFactor?: number
  /** processing.standbyReplicas of the verified topology (default 0). */
  standbyReplicas?: number
  /** Bound on waiting for quiescence after the last command was sent. */
  quiesceTimeoutMs: number
  log: (msg: string) => void
  /** false: the workers run no projection (check h is skipped). Default: on. */
  projection?: boolean
  /** Where to write the JSON summary; undefined = not written. */
  summaryFile?: string
}

export interface VerifySummary {
  ok: boolean
  seed: number
  commands: number
  inputRecords: number
  malformed: number
  producerDuplicates: number
  kills: number
  scaleCycles: number
  rebalances: number
  brokerRestarts: number
  replies: number
  events: number
  lost: number
  duplicated: number
  mismatched: number
  hangingPartitions: number
  /** Longest time a check marker took to become visible read_committed (d). */
  markerVisibleSeconds: number
  deadLetterProblems: number
  storeProblems: number
  /** Check (g): event index entries that differ from the events topic; events compared. */
  indexProblems: number
  standbyReplicas: number
  /** Check (i): snapshot stores compared with the changelog at their checkpoints. */
  snapshotStores: number
  /** Partitions with a store on more than one worker (standbys, former owners). */
  replicatedPartitions: number
  snapshotStoreProblems: number
  indexedEvents: number
  /** Check (h): projection views that differ from the model (changelog and every view store). */
  projectionProblems: number
  projectionViews: number
  projectionStoresChecked: number
  maxStallSeconds: number
  /** Longest time one partition with lag did not move (a stuck partition hides in the total). */
  maxPartitionStallSeconds: number
  hostile: number
  hostileProblems: number
  /** Worker processes that exited without being told to (a restart loop, a crash). */
  unexpectedExits: number
  seconds: number
  problems: string[]
}
