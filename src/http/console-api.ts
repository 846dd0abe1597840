/**
 * The shapes of the JSON answers the web console reads (GET /topologies, /cluster, /dead-letters/...; the
 * existing /aggregates, /views and /commands answers): types only, imported by the routes that write them and by
 * the console's browser code (console/), so that both are checked against one definition.
 */

/** GET /topologies: what this worker runs. */
export interface CatalogAnswer {
  topologies: CatalogTopology[]
  projections: CatalogProjection[]
  /** What the caller may do here (http.auth); both true when auth is off. */
  permissions: { read: boolean; write: boolean }
  /** Whether POST /commands is served (http.commands). */
  commands: boolean
}

export interface CatalogTopology {
  name: string
  partitions: number
  topics: { commands: string; events: string; replies: string; deadLetters: string }
  /** Command type -> JSON Schema of its payload (zod's, as the worker validates with). */
  commands: Record<string, unknown>
  events: string[]
}

export interface CatalogProjection {
  name: string
  partitions: number
  sources: string[]
  deadLetters: string
}

/** GET /cluster?scope=local: one worker's own part. */
export interface WorkerSnapshot {
  url: string
  ready: boolean
  reason?: string
  details?: string[]
  /** ms since the epoch when taken (rates are computed between two snapshots). */
  at: number
  groups: GroupSnapshot[]
}

export interface GroupSnapshot {
  name: string
  kind: 'topology' | 'projection'
  /** This worker's tasks: partition, state (created, restoring, running, ...), consumer lag when known. */
  tasks: { partition: number; state: string; lag: number | null }[]
  standbys: { partition: number; lag: number | null; caughtUp: boolean }[]
  /** From this worker's metrics (counters since it started). */
  counters: {
    commands: Record<string, number>
    events: number
    deadLetters: number
  }
}

/** GET /cluster: every worker's part merged, with the owners the consumer groups name. */
export interface ClusterAnswer {
  self: string
  at: number
  workers: { url: string; ready: boolean; reason?: string; details?: string[]; error?: string }[]
  groups: ClusterGroup[]
}

export interface ClusterGroup {
  name: string
  kind: 'topology' | 'projection'
  partitions: ClusterPartition[]
  counters: GroupSnapshot['counters']
}

export interface ClusterPartition {
  partition: number
  /** The owner's URL as its group names it; undefined when not known (ownerError says why). */
  owner?: string
  ownerError?: string
  state?: string
  lag: number | null
  standbys: { url: string; lag: number | null; caughtUp: boolean }[]
}

/** One dead letter as GET /dead-letters answers it. */
export interface DeadLetter {
  topology: string
  topic: string
  partition: number
  offset: string
  /** When it was written (ISO-8601). */
  timestamp: string
  /** kd-error-code, kd-error-message. */
  reason: string
  message: string
  /** The record it was made from. */
  source: { topic: string; partition: number | null; offset: string | null }
  aggregateId: string
  /** The original command as decoded, when it decodes (else `undecodable` says why). */
  command?: {
    commandId?: string
    type?: string
    payload?: unknown
    expectedVersion?: number
    metadata?: unknown
  }
  undecodable?: string
  /** The record's headers (text). */
  headers: Record<string, string>
  /** When it was itself a replay: the dead letter it came from and who replayed it. */
  replayOf?: string
  replayedBy?: string
}

export interface DeadLetterList {
  topology: string
  topic: string
  deadLetters: DeadLetter[]
  partitions: { partition: number; start: string; end: string }[]
}

/** POST /dead-letters/<topology>/replay */
export interface ReplayRequest {
  records: { partition: number; offset: string | number }[]
  /** How long to wait for each replayed command's reply (ms; 0: do not wait). */
  waitMs?: number
}

export interface ReplayResult {
  partition: number
  offset: string
  ok: boolean
  /** Where the command was written. */
  sentTo?: { topic: string; partition: number; offset: string }
  /** The worker's reply, when waited for and it came. */
  reply?: unknown
  error?: string
}

export interface ReplayAnswer {
  topology: string
  replayedBy: string
  results: ReplayResult[]
}
