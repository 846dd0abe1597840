/**
 * EventStoreClient: the read side for other Node services.
 * - events(topology, aggregateId, {fromVersion, toVersion, history, raw}): one aggregate's committed events from the
 *   event index of the worker that owns its partition, over HTTP (GET /aggregates/<topology>/<id>/events; `url`
 *   option). O(its events). As the worker reads them: upcast, linked to their corrections (`correctedBy`), as
 *   recorded or as corrected (`history`), or as stored (`raw`).
 * - readAll(topology, {from, decider}): every committed event of the events topic, in commit order per partition,
 *   from a position token up to the end the topic had when the read started; each event comes with the token right
 *   after it. Over Kafka (`kafka` option), read_committed. As stored, unless given a decider (or a loaded topology):
 *   then each event is upcast to its type's current schema version and typed by the decider's events.
 * - subscribe(topology, handler, {from, decider}): the same read, following the topic until stopped: events are
 *   handed to `handler` one at a time, in order per partition, at least once (a handler that fails, or an event the
 *   decider cannot upcast, stops the subscription; resume it from the last position it completed, `position()`).
 */
import type { RecordedEvent } from '../domain/corrections.ts'
import type { AnyDecider, EventOf } from '../domain/decider.ts'
import type { EventEnvelope } from '../domain/envelopes.ts'
import type { HistoryView } from '../domain/event-reads.ts'
import { upcastEvent } from '../domain/upcasting.ts'
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

export interface EventsOptions extends VersionRange {
  /**
   * `recorded` (default): every event, each one a later event corrects with `correctedBy: [{ eventId, reason }]`;
   * `corrected`: without the events a correction names (the corrections stay). README "Corrections".
   */
  history?: HistoryView
  /** The events as stored: no upcasting, no correction marks (not with history `corrected`). */
  raw?: boolean
}

/** One event of the index, with its events-topic partition and offset. */
export interface StoredEvent {
  partition: number
  offset: bigint
  event: RecordedEvent<EventEnvelope>
}

/** A decider, or a loaded topology (`loadTopology()`, `fromDecider()`): its decider. */
export type DeciderSource = AnyDecider | { decider: AnyDecider }
/** The decider of a DeciderSource. */
export type DeciderOf<X> = X extends { decider: infer D } ? D : X

/** An event envelope whose `type` and `payload` are the decider's (at its current schema versions). */
export type TypedEventEnvelope<D> = Omit<EventEnvelope, 'type' | 'payload'> & EventOf<D>

/** An event of readAll()/subscribe() given a decider: upcast, typed. */
export interface TypedLoggedEvent<D> extends Omit<LoggedEvent, 'event'> {
  event: TypedEventEnvelope<D>
}

export interface ReadAllOptions {
  /** Position token to read after (default: every partition from its start). */
  from?: string
  /** The read fails when it makes no progress for this long (default 120 s). */
  timeoutMs?: number
}

export interface SubscribeOptions {
  from?: string
  signal?: AbortSignal
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

  /**
   * One aggregate's events in version order, as the worker reads them (upcast; `history`; `raw`: as stored); pages
   * through the worker's answers (at most 1000 stored events each).
   */
  async events(topology: TopologyRef, aggregateId: string, o: EventsOptions = {}): Promise<StoredEvent[]> {
    if (this.o.url === undefined)
      throw new UsageError('events() reads through a worker: give the `url` option')
    if (o.raw && (o.history ?? 'recorded') !== 'recorded')
      throw new UsageError(
        'events(): `raw` shows the events as stored: it cannot be combined with history `corrected`',
      )
    const out: StoredEvent[] = []
    let from = o.fromVersion
    for (let page = 0; page < 1_000_000; page++) {
      const q = new URLSearchParams()
      if (from !== undefined) q.set('fromVersion', String(from))
      if (o.toVersion !== undefined) q.set('toVersion', String(o.toVersion))
      if (o.history !== undefined) q.set('history', o.history)
      if (o.raw) q.set('raw', 'true')
      const body = (await this.get(
        `aggregates/${encodeURIComponent(nameOf(topology))}/${encodeURIComponent(aggregateId)}/events?${q}`,
      )) as {
        partition: number
        events: { offset: string; event: RecordedEvent<EventEnvelope> }[]
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
   * makes no progress for `timeoutMs` (default 120 s: e.g. a transaction left open on the topic). Events as stored;
   * with `decider` (a decider or a loaded topology) upcast to its current schema versions and typed by it (an
   * event it cannot upcast ends the read with EventVersionUnknownError / UpcastFailedError).
   */
  readAll<X extends DeciderSource>(
    topology: TopologyRef,
    o: ReadAllOptions & { decider: X },
  ): AsyncGenerator<TypedLoggedEvent<DeciderOf<X>>>
  readAll(
    topology: TopologyRef,
    o?: ReadAllOptions & { decider?: DeciderSource },
  ): AsyncGenerator<LoggedEvent>
  async *readAll(
    topology: TopologyRef,
    o: ReadAllOptions & { decider?: DeciderSource } = {},
  ): AsyncGenerator<LoggedEvent> {
    const kafka = this.kafka('readAll')
    const shown = reader(o.decider)
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
          for (const e of batch) yield shown(e)
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

  /**
   * Follows the events topic from `from`, handing each event to `handler` (awaited) until stopped. Events as
   * stored; with `decider` (a decider or a loaded topology) upcast and typed by it, and an event it cannot upcast
   * stops the subscription as a failing handler does (`done` rejects with the error; `position()` is before it).
   */
  subscribe<X extends DeciderSource>(
    topology: TopologyRef,
    handler: (event: TypedLoggedEvent<DeciderOf<X>>) => Promise<void> | void,
    o: SubscribeOptions & { decider: X },
  ): Subscription
  subscribe(
    topology: TopologyRef,
    handler: (event: LoggedEvent) => Promise<void> | void,
    o?: SubscribeOptions & { decider?: DeciderSource },
  ): Subscription
  subscribe(
    topology: TopologyRef,
    handler: (event: LoggedEvent) => Promise<void> | void,
    o: SubscribeOptions & { decider?: DeciderSource } = {},
  ): Subscription {
    const kafka = this.kafka('subscribe')
    const shown = reader(o.decider)
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
                  await handler(shown(e))
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

/** What readAll/subscribe hand out: the event as stored, or upcast to the decider (of a loaded topology). */
function reader(source: DeciderSource | undefined): (e: LoggedEvent) => LoggedEvent {
  if (source === undefined) return (e) => e
  const decider: AnyDecider =
    'decider' in source && typeof source.decider === 'object' ? source.decider : (source as AnyDecider)
  return (e) => {
    const event = upcastEvent(decider, e.event)
    return event === e.event ? e : { ...e, event }
  }
}
