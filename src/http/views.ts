/**
 * The query API of projections: views read from the committed view stores of this worker's ProjectionTasks
 * (never an open transaction's views). README "HTTP API", "Querying views".
 *
 * GET /views/<projection>/<key>?waitFor=<topic>:<partition>:<offset>&timeoutMs=
 *   One view, answered by the task of the key's partition (the repartition partition of its UTF-8 bytes). The
 *   front door forwards it to that partition's owner (routing.ts), so here the task is this worker's.
 *   With waitFor (repeatable): first waits, at most timeoutMs (default 5 s, max 30 s), until the task has applied
 *   every event of source topic[partition] up to offset (read-your-writes: the positions of a command's events).
 *   200 { projection, key, view, partition }     404 no_view | unknown_projection | not_assigned
 *   400 bad_request     503 starting | not_running | read_failed     504 wait_timeout { waitFor: [...reached] }
 * GET /views/<projection>?prefix=&after=&limit=
 *   Views in key order (bytewise, UTF-8) across ALL partitions: this worker reads its own partitions and asks
 *   each other partition's owner for its own (`partitions=` and x-decider-forwarded: the owner answers from its
 *   tasks only), then merges the sorted pages. 200 { projection, views: [{ key, view }], next? } (`next`: pass it
 *   as `after` for the following page; absent: no more views). A partition whose owner cannot answer makes the
 *   whole answer a 503 (or 504) with its code: never a partial list.
 */
import { PAST_ALL_KEYS, sourceId, type SourcePosition } from '../domain/projection-records.ts'
import { TaskState } from '../runtime/task-state.ts'
import { notAssigned } from './state.ts'
import { peerGet, type PeerGet, type PeerTls } from './peer.ts'
import { RETRY_AFTER_MS, viewPartitionOf, type AggregateRouter } from './routing.ts'

/** What the queries need of a ProjectionTask (src/runtime/projection-task.ts). */
export interface ViewQueryableTask {
  readonly state: TaskState
  view(key: string): Promise<unknown>
  views(range: { prefix?: string; after?: string; limit: number }): Promise<{ key: string; view: unknown }[]>
  sourcePositions(): ReadonlyMap<string, SourcePosition>
  waitFor(topic: string, partition: number, offset: bigint, timeoutMs: number): Promise<boolean>
}

/** What the queries need of a ProjectionRunner: its name and its tasks by partition. */
export interface ViewQueryableRunner {
  readonly name: string
  readonly tasks: ReadonlyMap<number, ViewQueryableTask>
}

/** A projection as the queries need it: name, partition count, source topics (what waitFor may name). */
export interface ProjectionInfo {
  definition: { name: string; partitions: number }
  sources: readonly { topic: string }[]
}

export interface ViewResponse {
  status: number
  body: Record<string, unknown>
}

export interface ViewQueries {
  /** GET /views/<projection>/<key> on the worker that holds the key's partition. */
  view(projection: string, key: string, query: URLSearchParams): Promise<ViewResponse>
  /**
   * GET /views/<projection>; `forwarded`: another worker asks (answer from this worker's tasks only);
   * `caller.authorization`: the caller's Authorization header, passed on to the owners asked.
   */
  list(
    projection: string,
    query: URLSearchParams,
    forwarded: boolean,
    caller?: { authorization?: string | undefined },
  ): Promise<ViewResponse>
}

export interface ViewQueryOptions {
  projections: readonly ProjectionInfo[]
  runners: () => Iterable<ViewQueryableRunner>
  /**
   * The router (looked up on each request: it exists once the worker listens): the owners of the partitions a list
   * needs that this worker does not hold. Without one, a list needs every partition here.
   */
  router?: () => Pick<AggregateRouter, 'self' | 'locatePartition' | 'ownerFailed'> | undefined
  /** Bound on one owner's answer to a list (http.forwardTimeoutMs; default 5 s). */
  peerTimeoutMs?: number
  /** How another worker is asked (tests script it); default over node:http(s). */
  peerGet?: PeerGet
  /** The CA and client certificate of requests to other workers over HTTPS (http.tls). */
  peerTls?: PeerTls
}

export const VIEWS_LIMIT_DEFAULT = 100
export const VIEWS_LIMIT_MAX = 1000
export const WAIT_DEFAULT_MS = 5_000
export const WAIT_MAX_MS = 30_000
const MAX_WAIT_FOR = 100

/** One position to wait for: every event of source topic[partition] up to offset applied. */
export interface WaitTarget {
  topic: string
  partition: number
  offset: bigint
}

/**
 * How long a view request may wait (its waitFor bound; 0 without waitFor): the front door adds it to the bound
 * of a forwarded request. A malformed timeoutMs counts as the default (the owner answers 400 at once).
 */
export function viewWaitMs(query: URLSearchParams): number {
  if (!query.has('waitFor')) return 0
  const t = timeoutParam(query)
  return typeof t === 'number' ? t : WAIT_DEFAULT_MS
}

export function viewQueries(o: ViewQueryOptions): ViewQueries {
  const find = (name: string) => o.projections.find((p) => p.definition.name === name)
  const runnerOf = (name: string) => [...o.runners()].find((r) => r.name === name)
  const unknown = (name: string): ViewResponse => {
    const known = o.projections.map((p) => p.definition.name).join(', ')
    return {
      status: 404,
      body: {
        error: `this worker does not run projection ${name} (it runs: ${known || 'none'})`,
        code: 'unknown_projection',
      },
    }
  }
  const starting = (name: string): ViewResponse => ({
    status: 503,
    body: {
      error: `projection ${name} is starting on this worker; try again`,
      code: 'starting',
      retryAfterMs: RETRY_AFTER_MS,
    },
  })
  const isRunning = (runner: ViewQueryableRunner, partition: number, task: ViewQueryableTask) =>
    task.state === TaskState.RUNNING && runner.tasks.get(partition) === task
  const notRunning = (
    name: string,
    partition: number,
    task: ViewQueryableTask | undefined,
  ): ViewResponse => ({
    status: 503,
    body: {
      error:
        task === undefined || task.state === TaskState.CLOSING || task.state === TaskState.CLOSED
          ? `the task of partition ${partition} of projection ${name} closed (the partition moved?); try again`
          : `the task of partition ${partition} of projection ${name} is ${task.state}; try again when it is RUNNING`,
      code: 'not_running',
      partition,
      ...(task !== undefined ? { taskState: task.state } : {}),
      retryAfterMs: RETRY_AFTER_MS,
    },
  })
  const readFailed = (name: string, partition: number, e: unknown): ViewResponse => ({
    status: 503,
    body: {
      error: `reading the views of partition ${partition} of projection ${name} failed: ${(e as Error).message}; try again`,
      code: 'read_failed',
      partition,
      retryAfterMs: RETRY_AFTER_MS,
    },
  })

  return {
    async view(name, key, query) {
      const projection = find(name)
      if (projection === undefined) return unknown(name)
      if (key === '') return badRequest('use /views/<projection>/<key> (both URL-encoded)')
      const waits = waitTargets(query, projection)
      if (typeof waits === 'string') return badRequest(waits)
      const timeoutMs = timeoutParam(query)
      if (typeof timeoutMs === 'string') return badRequest(timeoutMs)
      const runner = runnerOf(name)
      if (runner === undefined) return starting(name)
      const partition = viewPartitionOf(key, projection.definition.partitions)
      const task = runner.tasks.get(partition)
      if (task === undefined) {
        return notAssigned('projection', name, partition, runner.tasks)
      }
      if (!isRunning(runner, partition, task)) return notRunning(name, partition, task)
      if (waits.length > 0) {
        const bound = timeoutMs ?? WAIT_DEFAULT_MS
        const reached = await Promise.all(
          waits.map((w) => task.waitFor(w.topic, w.partition, w.offset, bound)),
        )
        if (!isRunning(runner, partition, task)) return notRunning(name, partition, task)
        if (!reached.every(Boolean)) {
          const positions = task.sourcePositions()
          return {
            status: 504,
            body: {
              error: `the views of partition ${partition} of projection ${name} did not reach every waitFor position within ${bound} ms (the projection lags, or the position is not an event of a source of it)`,
              code: 'wait_timeout',
              partition,
              waitFor: waits.map((w, i) => ({
                topic: w.topic,
                partition: w.partition,
                offset: w.offset.toString(),
                reached: reached[i]!,
                applied: appliedThrough(positions.get(sourceId(w.topic, w.partition))),
              })),
            },
          }
        }
      }
      let view: unknown
      try {
        view = await task.view(key)
      } catch (e) {
        return readFailed(name, partition, e)
      }
      // A task that closed meanwhile reads as "no view": that would be a wrong 404.
      if (!isRunning(runner, partition, task)) return notRunning(name, partition, task)
      if (view === undefined || view === null)
        return {
          status: 404,
          body: {
            error: `projection ${name} has no view ${JSON.stringify(key)} (partition ${partition})`,
            code: 'no_view',
            partition,
          },
        }
      return { status: 200, body: { projection: name, key, view, partition } }
    },

    async list(name, query, forwarded, caller) {
      const projection = find(name)
      if (projection === undefined) return unknown(name)
      const partitionCount = projection.definition.partitions
      const range = listRange(query)
      if (typeof range === 'string') return badRequest(range)
      const only = partitionsParam(query, partitionCount)
      if (typeof only === 'string') return badRequest(only)
      const runner = runnerOf(name)
      if (runner === undefined) return starting(name)
      // Asked by another worker (or for named partitions): this worker's own tasks only, never forwarded on.
      const localOnly = forwarded || only !== undefined
      const wanted = only ?? Array.from({ length: partitionCount }, (_, q) => q)
      const local: number[] = []
      const remote = new Map<string, number[]>()
      const router = localOnly ? undefined : o.router?.()
      for (const q of wanted) {
        if (runner.tasks.has(q)) {
          local.push(q)
          continue
        }
        if (localOnly)
          return unavailable(
            'not_owner',
            q,
            `this worker was asked for partition ${q} of projection ${name} but does not hold it (the partition moved)`,
          )
        if (router === undefined)
          return unavailable(
            'no_owner',
            q,
            `partition ${q} of projection ${name} is not on this worker, and this worker routes no reads (no router)`,
          )
        const at = await router.locatePartition('projection', name, q, false)
        if (at.at === 'local')
          local.push(q) // its task arrived meanwhile
        else if (at.at === 'unavailable') return { status: at.status, body: { ...at.body } }
        else remote.set(at.url, [...(remote.get(at.url) ?? []), q])
      }
      const limit = range.limit
      const reads: Promise<Page | ViewResponse>[] = local.map(async (q) => {
        const task = runner.tasks.get(q)
        if (task === undefined || !isRunning(runner, q, task)) return notRunning(name, q, task)
        let entries: { key: string; view: unknown }[]
        try {
          entries = await task.views({ ...range, limit: limit + 1 })
        } catch (e) {
          return readFailed(name, q, e)
        }
        if (!isRunning(runner, q, task)) return notRunning(name, q, task) // a closed task reads as empty
        return { entries: entries.slice(0, limit), more: entries.length > limit }
      })
      for (const [url, qs] of remote) {
        const search = new URLSearchParams({ limit: String(limit), partitions: qs.join(',') })
        if (range.prefix !== undefined) search.set('prefix', range.prefix)
        if (range.after !== undefined) search.set('after', range.after)
        reads.push(
          (o.peerGet ?? peerGet)(url, `/views/${encodeURIComponent(name)}?${search}`, {
            self: router!.self,
            timeoutMs: o.peerTimeoutMs ?? 5_000,
            authorization: caller?.authorization,
            tls: o.peerTls,
          }).then((answer) => {
            const page = answer.status === 200 ? pageOf(answer.body, limit) : undefined
            if (page !== undefined) return page
            if (answer.status === 503 || answer.status === 504) router!.ownerFailed(name)
            return ownerFailed(name, url, qs, answer)
          }),
        )
      }
      const pages = await Promise.all(reads)
      const failed = pages.find((p): p is ViewResponse => 'status' in p)
      if (failed !== undefined) return failed
      // Key order as the stores keep it: bytewise UTF-8 (= code point order, not JS's UTF-16 order).
      const all = (pages as Page[])
        .flatMap((p) => p.entries)
        .map((e) => ({ e, bytes: Buffer.from(e.key, 'utf8') }))
        .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
        .map((x) => x.e)
      const more = all.length > limit || (pages as Page[]).some((p) => p.more)
      const views = all.slice(0, limit)
      return {
        status: 200,
        body: {
          projection: name,
          views,
          ...(more && views.length > 0 ? { next: views[views.length - 1]!.key } : {}),
        },
      }
    },
  }
}

interface Page {
  entries: { key: string; view: unknown }[]
  /** The partition(s) have views after the last entry. */
  more: boolean
}

/** The last source offset whose every event is applied (a string), null when none is. */
function appliedThrough(pos: SourcePosition | undefined): string | null {
  if (pos === undefined) return null
  const through = pos.keyIndex === PAST_ALL_KEYS ? pos.offset : pos.offset - 1n
  return through < 0n ? null : through.toString()
}

/** An owner's answer to a list for its partitions, checked; undefined when it is not one. */
function pageOf(body: Record<string, unknown>, limit: number): Page | undefined {
  const views = body.views
  if (!Array.isArray(views) || views.length > limit) return undefined
  for (const v of views as unknown[])
    if (typeof v !== 'object' || v === null || typeof (v as { key?: unknown }).key !== 'string')
      return undefined
  return { entries: views as Page['entries'], more: typeof body.next === 'string' }
}

function ownerFailed(
  name: string,
  url: string,
  partitions: number[],
  answer: { status: number; body: Record<string, unknown> },
): ViewResponse {
  // The owner refused the caller's credentials (401, 403): so is the list; 503/504: try again; else a bad owner.
  const status = [401, 403, 503, 504].includes(answer.status) ? answer.status : 502
  const code = typeof answer.body.code === 'string' ? answer.body.code : 'bad_owner_answer'
  const error = typeof answer.body.error === 'string' ? answer.body.error : `HTTP ${answer.status}`
  return {
    status,
    body: {
      error: `partition(s) ${partitions.join(', ')} of projection ${name}: the owner ${url} answered ${answer.status} ${code}: ${error}`,
      code,
      partitions,
      owner: url,
      ...(status === 503 || status === 504 ? { retryAfterMs: RETRY_AFTER_MS } : {}),
    },
  }
}

function unavailable(code: string, partition: number, error: string): ViewResponse {
  return {
    status: 503,
    body: { error: `${error}; try again`, code, partition, retryAfterMs: RETRY_AFTER_MS },
  }
}

function badRequest(error: string): ViewResponse {
  return { status: 400, body: { error, code: 'bad_request' } }
}

/** prefix, after (strings; absent = none) and limit (1..VIEWS_LIMIT_MAX, default VIEWS_LIMIT_DEFAULT). */
function listRange(query: URLSearchParams): { prefix?: string; after?: string; limit: number } | string {
  for (const k of ['prefix', 'after', 'limit', 'partitions'])
    if (query.getAll(k).length > 1) return `give ${k} at most once`
  const raw = query.get('limit')
  let limit = VIEWS_LIMIT_DEFAULT
  if (raw !== null && raw !== '') {
    if (!/^\d{1,7}$/.test(raw) || Number(raw) < 1 || Number(raw) > VIEWS_LIMIT_MAX)
      return `limit must be an integer in 1..${VIEWS_LIMIT_MAX}, got ${JSON.stringify(raw.slice(0, 40))}`
    limit = Number(raw)
  }
  const prefix = query.get('prefix')
  const after = query.get('after')
  return {
    ...(prefix !== null && prefix !== '' ? { prefix } : {}),
    ...(after !== null && after !== '' ? { after } : {}),
    limit,
  }
}

/** `partitions=0,3`: distinct partitions of the projection; undefined when absent. */
function partitionsParam(query: URLSearchParams, count: number): number[] | undefined | string {
  const raw = query.get('partitions')
  if (raw === null) return undefined
  const parts = raw.split(',')
  const out = new Set<number>()
  for (const p of parts) {
    if (!/^\d{1,5}$/.test(p) || Number(p) >= count)
      return `partitions must be a comma-separated list of partitions in 0..${count - 1}, got ${JSON.stringify(raw.slice(0, 80))}`
    out.add(Number(p))
  }
  return [...out].sort((x, y) => x - y)
}

/** timeoutMs of a wait: 1..WAIT_MAX_MS; undefined when absent. */
function timeoutParam(query: URLSearchParams): number | undefined | string {
  const raw = query.get('timeoutMs')
  if (raw === null || raw === '') return undefined
  if (!/^\d{1,6}$/.test(raw) || Number(raw) < 1 || Number(raw) > WAIT_MAX_MS)
    return `timeoutMs must be an integer in 1..${WAIT_MAX_MS}, got ${JSON.stringify(raw.slice(0, 40))}`
  return Number(raw)
}

/** The waitFor parameters: `<topic>:<partition>:<offset>`, each topic a source of the projection. */
function waitTargets(query: URLSearchParams, p: ProjectionInfo): WaitTarget[] | string {
  const values = query.getAll('waitFor')
  if (values.length > MAX_WAIT_FOR) return `at most ${MAX_WAIT_FOR} waitFor parameters, got ${values.length}`
  const sources = p.sources.map((s) => s.topic)
  const out: WaitTarget[] = []
  for (const v of values) {
    const m = /^([A-Za-z0-9._-]{1,249}):(\d{1,9}):(\d{1,19})$/.exec(v)
    if (!m)
      return `waitFor must be <topic>:<partition>:<offset> (an event's position, as POST /commands returns them in positions), got ${JSON.stringify(v.slice(0, 300))}`
    const [, topic, partition, offset] = m as unknown as [string, string, string, string]
    if (!sources.includes(topic))
      return `waitFor ${v}: ${topic} is not a source of projection ${p.definition.name} (its sources: ${sources.join(', ')}); its views would never reach it`
    out.push({ topic, partition: Number(partition), offset: BigInt(offset) })
  }
  return out
}
