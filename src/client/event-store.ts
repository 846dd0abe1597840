/**
 * EventStoreClient: the read side for other Node services.
 * - events(topology, aggregateId, range): one aggregate's committed events from the event index of the worker that
 *   owns its partition, over HTTP (GET /aggregates/<topology>/<id>/events; `url` option). O(its events).
 * - readAll(topology, {from}): every committed event of the events topic, in commit order per partition, from a
 *   position token up to the end the topic had when the read started; each event comes with the token right after
 *   it. Over Kafka (`kafka` option), read_committed.
 * - subscribe(topology, handler, {from}): the same read, following the topic until stopped: events are handed to
 *   `handler` one at a time, in order per partition, at least once (a handler that fails stops the subscription;
 *   resume it from the last position it completed, which `position()` and the handler's second argument give).
 */
import type { EventEnvelope } from '../domain/envelopes.ts'
import { ReaderRejoinedError, UsageError } from '../errors.ts'
import type { KafkaConnection } from '../kafka/client.ts'
import { readEventLog, type LoggedEvent } from '../kafka/event-log.ts'
import { workerGet } from './worker-http.ts'

export type { LoggedEvent }

/** A topology by name (events topic `<name>.events`), or as loadTopology() returns it (its topic names). */
export type TopologyRef = string | { definition: { name: string }; topics: { events: string } }

export interface EventStoreClientOptions {
  /** A worker's HTTP address (http.host:http.port), for events(). */
  url?: string
  /** A kafkajs Kafka client, for readAll() and subscribe(). */
  kafka?: KafkaConnection
  /** Prefix of the private consumer groups of the sequential reads (default "kafka-decider-reader"). */
  groupPrefix?: string
  /** Bound on one HTTP read; default 10 s. */
  timeoutMs?: number
  /** A bearer token for the worker's HTTP API (http.auth; read permission): sent as Authorization: Bearer. */
  token?: string | undefined
}

export interface VersionRange {
  fromVersion?: number
  toVersion?: number
}

/** One event of the index, with its events-topic partition and offset. */
export interface StoredEvent {
  partition: number
  offset: bigint
  event: EventEnvelope
}

export interface Subscription {
  /** Stops after the handler call in progress; resolves when stopped. */
  stop(): Promise<void>
  /** Resolves when the subscription stopped (stop() or the signal); rejects with the handler's error. */
  readonly done: Promise<void>
  /** The token after the last event the handler completed (the `from` given, before the first). */
  position(): string | undefined
}

const nameOf = (t: TopologyRef) => (typeof t === 'string' ? t : t.definition.name)
const topicOf = (t: TopologyRef) => (typeof t === 'string' ? `${t}.events` : t.topics.events)

export class EventStoreClient {
  constructor(private readonly o: EventStoreClientOptions) {
    if (o.url === undefined && o.kafka === undefined)
      throw new UsageError(
        'EventStoreClient needs `url` (a worker, for events()) and/or `kafka` (for readAll/subscribe)',
      )
  }

  /** One aggregate's events in version order; pages through the worker's answers (at most 1000 events each). */
  async events(topology: TopologyRef, aggregateId: string, range: VersionRange = {}): Promise<StoredEvent[]> {
    if (this.o.url === undefined)
      throw new UsageError('events() reads through a worker: give the `url` option')
    const out: StoredEvent[] = []
    let from = range.fromVersion
    for (let page = 0; page < 1_000_000; page++) {
      const q = new URLSearchParams()
      if (from !== undefined) q.set('fromVersion', String(from))
      if (range.toVersion !== undefined) q.set('toVersion', String(range.toVersion))
      const body = (await this.get(
        `aggregates/${encodeURIComponent(nameOf(topology))}/${encodeURIComponent(aggregateId)}/events?${q}`,
      )) as {
        partition: number
        events: { offset: string; event: EventEnvelope }[]
        nextFromVersion?: number
      }
      for (const e of body.events)
        out.push({ partition: body.partition, offset: BigInt(e.offset), event: e.event })
      if (body.nextFromVersion === undefined) return out
      from = body.nextFromVersion
    }
    return out
  }

  /**
   * An aggregate's state as of a business time and/or a recording time (bi-temporal; see README "Event store"):
   * folded by the worker from the aggregate's committed events. Without bounds: the current state.
   */
  async stateAt(
    topology: TopologyRef,
    aggregateId: string,
    asOf: { eventTimeAsOf?: string | Date; recordedAsOf?: string | Date } = {},
  ): Promise<{ partition: number; version: number; state: unknown; included: number; total: number }> {
    if (this.o.url === undefined)
      throw new UsageError('stateAt() reads through a worker: give the `url` option')
    const q = new URLSearchParams()
    for (const k of ['eventTimeAsOf', 'recordedAsOf'] as const) {
      const v = asOf[k]
      if (v !== undefined) q.set(k, v instanceof Date ? v.toISOString() : v)
    }
    return (await this.get(
      `aggregates/${encodeURIComponent(nameOf(topology))}/${encodeURIComponent(aggregateId)}/state?${q}`,
    )) as { partition: number; version: number; state: unknown; included: number; total: number }
  }

  /**
   * Every committed event up to the topic's end at the call, in commit order per partition. Fails when the read
   * makes no progress for `timeoutMs` (default 120 s: e.g. a transaction left open on the topic).
   */
  async *readAll(
    topology: TopologyRef,
    o: { from?: string; timeoutMs?: number } = {},
  ): AsyncGenerator<LoggedEvent> {
    const kafka = this.kafka('readAll')
    const queue: LoggedEvent[][] = []
    let release: (() => void) | undefined
    let wake: (() => void) | undefined
    let ended = false
    let error: unknown
    const abort = new AbortController()
    const read = readEventLog(kafka, {
      topic: topicOf(topology),
      ...(o.from === undefined ? {} : { from: o.from }),
      follow: false,
      signal: abort.signal,
      groupPrefix: this.o.groupPrefix ?? 'kafka-decider-reader',
      timeoutMs: o.timeoutMs ?? 120_000,
      onEvents: (events) =>
        new Promise<void>((resolve) => {
          queue.push(events)
          release = resolve
          wake?.()
        }),
    }).then(
      () => void (ended = true),
      (e: unknown) => void ((error = e), (ended = true)),
    )
    void read.then(() => wake?.())
    try {
      for (;;) {
        const batch = queue.shift()
        if (batch !== undefined) {
          yield* batch
          release?.()
          continue
        }
        if (ended) break
        await new Promise<void>((r) => (wake = r))
        wake = undefined
      }
      if (error !== undefined) throw error
    } finally {
      abort.abort()
      release?.()
      await read
    }
  }

  /** Follows the events topic from `from`, handing each event to `handler` (awaited) until stopped. */
  subscribe(
    topology: TopologyRef,
    handler: (event: LoggedEvent) => Promise<void> | void,
    o: { from?: string; signal?: AbortSignal } = {},
  ): Subscription {
    const kafka = this.kafka('subscribe')
    const abort = new AbortController()
    o.signal?.addEventListener('abort', () => abort.abort(), { once: true })
    let position = o.from
    let failed: unknown
    const run = async () => {
      // A rejoin of the private group restarts the read from the last completed event (bounded: 10 in a row).
      for (let rejoins = 0; !abort.signal.aborted;) {
        try {
          await readEventLog(kafka, {
            topic: topicOf(topology),
            ...(position === undefined ? {} : { from: position }),
            follow: true,
            signal: abort.signal,
            groupPrefix: this.o.groupPrefix ?? 'kafka-decider-reader',
            onEvents: async (events) => {
              for (const e of events) {
                if (abort.signal.aborted) return
                try {
                  await handler(e)
                } catch (err) {
                  failed = err
                  abort.abort()
                  return
                }
                position = e.position
                rejoins = 0
              }
            },
          })
        } catch (e) {
          if (!(e instanceof ReaderRejoinedError) || ++rejoins > 10) throw e
        }
      }
      if (failed !== undefined) throw failed
    }
    const done = run()
    done.catch(() => undefined)
    return {
      stop: async () => {
        abort.abort()
        await done.catch(() => undefined)
      },
      done,
      position: () => position,
    }
  }

  private kafka(what: string): KafkaConnection {
    if (this.o.kafka === undefined)
      throw new UsageError(`${what}() reads the events topic: give the \`kafka\` option`)
    return this.o.kafka
  }

  /**
   * One read from the worker (any worker: it forwards to the owner of the aggregate's partition). A 503 with a
   * retry hint (the group rebalancing, the owner's task restoring) is asked again, all within timeoutMs.
   */
  private async get(pathAndQuery: string): Promise<unknown> {
    return (
      await workerGet(this.o.url!, pathAndQuery, {
        timeoutMs: this.o.timeoutMs ?? 10_000,
        token: this.o.token,
      })
    ).body
  }
}
