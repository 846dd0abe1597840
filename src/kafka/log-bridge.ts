/**
 * kafkajs logs -> pino, at the level a reader should see them.
 *
 * kafkajs logs at ERROR every retriable response error and connection failure, also the ones that are part of
 * every normal start: a broker that just started is still electing partition leaders and loading the group and
 * transaction coordinators, so the first FindCoordinator/InitProducerId/Metadata answers are "coordinator not
 * available", "coordinator is loading", "not the correct coordinator", "no leader" — and kafkajs retries them.
 * Those transient conditions go to debug while the worker is starting and while they are retried away; one
 * that persists (same condition, no quiet gap, for longer than PERSIST_MS after start-up or past the start-up
 * window) goes to warn with how long it has lasted. Any other kafkajs ERROR goes to warn, the rest to debug:
 * the worker reports what matters (a failed task, a fenced producer, a crashed consumer) itself.
 */
import { logLevel as KafkaLogLevel, type logCreator } from 'kafkajs'
import type { Logger } from 'pino'

/** Transient conditions, by kafkajs error type, matched on the message and error text kafkajs logs. */
const TRANSIENT: readonly (readonly [kind: string, pattern: RegExp])[] = [
  ['GROUP_COORDINATOR_NOT_AVAILABLE', /group coordinator is not available/i],
  ['GROUP_LOAD_IN_PROGRESS', /coordinator is loading/i],
  ['NOT_COORDINATOR_FOR_GROUP', /not the correct coordinator/i],
  ['LEADER_NOT_AVAILABLE', /no leader for this topic-partition/i],
  ['NOT_LEADER_FOR_PARTITION', /not the leader for that topic-partition/i],
  // A topic created a moment ago, before every broker has its metadata.
  ['UNKNOWN_TOPIC_OR_PARTITION', /does not host this topic-partition/i],
  // InitProducerId while the previous owner's transaction is still being aborted (a restart).
  ['CONCURRENT_TRANSACTIONS', /another concurrent operation on the same transaction/i],
  ['REBALANCE_IN_PROGRESS', /group is rebalancing/i],
  // The broker is not listening yet (started together with the worker) or is restarting.
  ['CONNECTION', /ECONNREFUSED|ECONNRESET|Connection timeout|Failed to connect to (seed )?broker/i],
]

/** How long after the filter is created a transient condition is expected however long it lasts (a broker that
 * was just started loads __consumer_offsets and __transaction_state first; seconds, more on a loaded host). */
export const STARTUP_WINDOW_MS = 60_000
/** After start-up, how long a transient condition may last before it is a warning (a coordinator move or a
 * leader election takes seconds). */
export const PERSIST_MS = 15_000
/** A gap this long ends a condition: kafkajs never waits longer between two retries (its maxRetryTime). */
export const QUIET_MS = 30_000

export interface KafkaLogFilterOptions {
  now?: () => number
  startupWindowMs?: number
  persistMs?: number
  quietMs?: number
}

export interface KafkaLogDecision {
  level: 'warn' | 'debug'
  /** Set for a transient condition: its kind, how long it has lasted and how often it was logged. */
  transient?: { kind: string; persistingMs: number; occurrences: number }
}

/** Decides the pino level of each kafkajs log entry; one per worker, shared by its kafkajs clients. */
export class KafkaLogFilter {
  private readonly now: () => number
  private readonly persistMs: number
  private readonly quietMs: number
  private startupUntil: number
  private readonly streaks = new Map<string, { first: number; last: number; count: number }>()

  constructor(o: KafkaLogFilterOptions = {}) {
    this.now = o.now ?? Date.now
    this.persistMs = o.persistMs ?? PERSIST_MS
    this.quietMs = o.quietMs ?? QUIET_MS
    this.startupUntil = this.now() + (o.startupWindowMs ?? STARTUP_WINDOW_MS)
  }

  /** The worker is up: from now on a transient condition is a warning once it lasted persistMs. */
  started(): void {
    this.startupUntil = Math.min(this.startupUntil, this.now())
  }

  /** `level`: kafkajs' level; `text`: its message plus the error it names. */
  decide(level: number, text: string): KafkaLogDecision {
    const kind = TRANSIENT.find(([, pattern]) => pattern.test(text))?.[0]
    if (kind === undefined) return { level: level <= KafkaLogLevel.ERROR ? 'warn' : 'debug' }
    const now = this.now()
    let s = this.streaks.get(kind)
    if (s === undefined || now - s.last > this.quietMs)
      this.streaks.set(kind, (s = { first: now, last: now, count: 0 }))
    s.last = now
    s.count++
    const transient = { kind, persistingMs: now - s.first, occurrences: s.count }
    const persists = now >= this.startupUntil && transient.persistingMs >= this.persistMs
    return { level: persists && level <= KafkaLogLevel.WARN ? 'warn' : 'debug', transient }
  }
}

/** The kafkajs logCreator writing to `logger` (component kafkajs), at the levels `filter` decides. */
export function kafkaLogCreator(logger: Logger, filter: KafkaLogFilter): logCreator {
  const base = logger.child({ component: 'kafkajs' })
  return () => (entry) => {
    // kafkajs' own timestamp and logger name repeat what pino writes.
    const { message, timestamp: _t, logger: _l, ...extra } = entry.log
    const error = typeof extra.error === 'string' ? extra.error : ''
    const d = filter.decide(entry.level, `${message} ${error}`)
    const t = d.level === 'warn' ? d.transient : undefined
    const streak = t ? { transient: t.kind, persistingMs: t.persistingMs, occurrences: t.occurrences } : {}
    const fields = { namespace: entry.namespace, ...extra, ...streak }
    base[d.level](fields, message)
  }
}
