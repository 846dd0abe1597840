/**
 * ViewClient: the views of one projection, for other Node services, through any worker's HTTP API (README
 * "Querying views"; the worker routes each read to the owner of the view's partition):
 * - get(key) / read(key): one view (undefined when there is none); with `waitFor`, once it includes those events;
 * - list({ prefix, after, limit }): a page of views in key order (bytewise), across every partition;
 *   entries({ prefix }) and `for await (const { key, view } of client)`: every view, page after page;
 * - positionsOf(reply, topology): where an accepted command's events are (an HTTP reply carries them; a reply
 *   read over Kafka, from CommandClient.sendAndWait, is looked up in the owner's event index), and
 *   waitForReply(reply) to pass them on: `await accounts.get(id, await accounts.waitForReply(reply, 'bank'))`.
 * A 503 with a retry hint (a group rebalancing, a task restoring) is asked again within `timeoutMs`.
 */
import type { ReplyEnvelope } from '../domain/envelopes.ts'
import { UsageError, WorkerReadError } from '../errors.ts'
import type { TopologyRef } from './event-store.ts'
import { workerGet } from './worker-http.ts'

/** An event's place on its events topic (offset decimal), as POST /commands replies give them. */
export interface EventPosition {
  topic: string
  partition: number
  offset: string
}

export interface ViewClientOptions {
  /** A worker's HTTP address (http.host:http.port): any worker of the projection. */
  url: string
  /** Bound on one call, retries included (default 10 s; a read that waits gets its wait on top). */
  timeoutMs?: number
  /** A bearer token for the worker's HTTP API (http.auth; read permission): sent as Authorization: Bearer. */
  token?: string | undefined
}

export interface ViewEntry<V> {
  key: string
  view: V
}

export interface ViewPage<V> {
  views: ViewEntry<V>[]
  /** Present when more views may follow: pass it as `after`. */
  next?: string
}

/** One view as the worker answers it. */
export interface ViewAnswer<V> {
  projection: string
  key: string
  view: V
  /** The repartition partition of the key. */
  partition: number
  /** The worker that answered (the owner of the partition). */
  answeredBy?: string
}

export interface GetViewOptions {
  /** Positions the view must include first: a command's events (waitForReply, positionsOf, a reply's positions). */
  waitFor?: EventPosition | readonly EventPosition[]
  /** How long the worker may wait for them (default 5000, at most 30000); then WorkerReadError `wait_timeout`. */
  waitTimeoutMs?: number
}

export interface ListOptions {
  prefix?: string
  after?: string
  /** 1..1000, default 100. */
  limit?: number
}

/** A command's reply: CommandClient.sendAndWait's, or POST /commands' (which carries `positions` when accepted). */
export type CommandReply = ReplyEnvelope & { positions?: EventPosition[] }

const eventsTopicOf = (t: TopologyRef) => (typeof t === 'string' ? `${t}.events` : t.topics.events)
const nameOf = (t: TopologyRef) => (typeof t === 'string' ? t : t.definition.name)

export class ViewClient<V = unknown> {
  constructor(
    readonly projection: string,
    private readonly o: ViewClientOptions,
  ) {
    if (typeof o?.url !== 'string') throw new UsageError('ViewClient needs `url` (a worker)')
  }

  /** The view of `key`, undefined when the projection has none. */
  async get(key: string, o: GetViewOptions = {}): Promise<V | undefined> {
    return (await this.read(key, o))?.view
  }

  /** The view of `key` with where it came from (partition, answeredBy); undefined when the projection has none. */
  async read(key: string, o: GetViewOptions = {}): Promise<ViewAnswer<V> | undefined> {
    if (key === '') throw new UsageError('a view key is a non-empty string')
    const q = new URLSearchParams()
    const waits = o.waitFor === undefined ? [] : Array.isArray(o.waitFor) ? o.waitFor : [o.waitFor]
    for (const w of waits as EventPosition[]) q.append('waitFor', `${w.topic}:${w.partition}:${w.offset}`)
    if (waits.length > 0 && o.waitTimeoutMs !== undefined) q.set('timeoutMs', String(o.waitTimeoutMs))
    const waitMs = waits.length > 0 ? (o.waitTimeoutMs ?? 5_000) : 0
    const { status, body } = await workerGet(
      this.o.url,
      `views/${encodeURIComponent(this.projection)}/${encodeURIComponent(key)}${waits.length > 0 ? `?${q}` : ''}`,
      {
        timeoutMs: Math.max(this.timeoutMs, waitMs + 5_000),
        token: this.o.token,
        accept: (s, b) => s === 200 || (s === 404 && b.code === 'no_view'),
      },
    )
    return status === 200 ? (body as unknown as ViewAnswer<V>) : undefined
  }

  /** A page of views in key order (bytewise UTF-8), across every partition. */
  async list(o: ListOptions = {}): Promise<ViewPage<V>> {
    const q = new URLSearchParams()
    if (o.prefix !== undefined && o.prefix !== '') q.set('prefix', o.prefix)
    if (o.after !== undefined && o.after !== '') q.set('after', o.after)
    if (o.limit !== undefined) q.set('limit', String(o.limit))
    const { body } = await workerGet(this.o.url, `views/${encodeURIComponent(this.projection)}?${q}`, {
      timeoutMs: this.timeoutMs,
      token: this.o.token,
    })
    const page = body as { views: ViewEntry<V>[]; next?: unknown }
    return { views: page.views, ...(typeof page.next === 'string' ? { next: page.next } : {}) }
  }

  /** Every view (with `prefix`), in key order, `pageSize` (default 100) per request. */
  async *entries(o: { prefix?: string; pageSize?: number } = {}): AsyncGenerator<ViewEntry<V>> {
    let after: string | undefined
    for (;;) {
      const page = await this.list({
        ...(o.prefix !== undefined ? { prefix: o.prefix } : {}),
        ...(after !== undefined ? { after } : {}),
        limit: o.pageSize ?? 100,
      })
      yield* page.views
      if (page.next === undefined) return
      after = page.next
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<ViewEntry<V>> {
    return this.entries()
  }

  /**
   * Where the events of an accepted command are (the last one's topic, partition and offset): the reply's
   * `positions` when it has them (POST /commands), else read from the event index of the aggregate's owner
   * (GET /aggregates/<topology>/<id>/events). [] for a reply without events (rejected, no event decided).
   */
  async positionsOf(reply: CommandReply, topology: TopologyRef): Promise<EventPosition[]> {
    if (Array.isArray(reply.positions)) return reply.positions
    const last = reply.events[reply.events.length - 1]
    const accepted =
      reply.status === 'accepted' || (reply.status === 'duplicate' && reply.originalStatus === 'accepted')
    if (!accepted || last === undefined) return []
    const version = last[1]
    const path =
      `aggregates/${encodeURIComponent(nameOf(topology))}/${encodeURIComponent(reply.aggregateId)}/events?` +
      new URLSearchParams({ fromVersion: String(version), toVersion: String(version) }).toString()
    const deadline = Date.now() + this.timeoutMs
    // The owner indexes the events just after their commit; the reply may be read just before.
    const notIndexed = () => {
      const err = new WorkerReadError(
        `worker ${this.o.url}: event ${version} of aggregate ${reply.aggregateId} is not in the event index of ${nameOf(topology)} within ${this.timeoutMs} ms`,
      )
      err.status = 200
      err.reason = 'not_indexed'
      return err
    }
    for (let pause = 10, asked = 0; ; pause = Math.min(pause * 2, 200), asked++) {
      let body: unknown
      try {
        ;({ body } = await workerGet(this.o.url, path, {
          timeoutMs: Math.max(1, deadline - Date.now()),
          token: this.o.token,
        }))
      } catch (e) {
        // Out of time while asking again, after an answer without the event: that answer is what we know.
        if (asked > 0 && Date.now() >= deadline) throw notIndexed()
        throw e
      }
      const page = body as { partition: number; events: { offset: string; event: { version: number } }[] }
      const e = page.events.find((x) => x.event.version === version)
      if (e !== undefined)
        return [{ topic: eventsTopicOf(topology), partition: page.partition, offset: e.offset }]
      if (Date.now() + pause >= deadline) throw notIndexed()
      await new Promise((r) => setTimeout(r, pause))
    }
  }

  /**
   * `{ waitFor }` for get()/read(): the positions of an accepted reply's events (see positionsOf). A reply read
   * over Kafka carries none: give the topology it was sent to.
   */
  async waitForReply(reply: CommandReply, topology?: TopologyRef): Promise<{ waitFor: EventPosition[] }> {
    if (Array.isArray(reply.positions)) return { waitFor: reply.positions }
    if (topology === undefined)
      throw new UsageError(
        'this reply carries no positions (it was read over Kafka, or its positions could not be found): give waitForReply the topology it was sent to',
      )
    return { waitFor: await this.positionsOf(reply, topology) }
  }

  private get timeoutMs(): number {
    return this.o.timeoutMs ?? 10_000
  }
}

/** The views of `projection` (typed by V) through the worker at `o.url`. */
export function views<V = unknown>(projection: string, o: ViewClientOptions): ViewClient<V> {
  return new ViewClient<V>(projection, o)
}
