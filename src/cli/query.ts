/**
 * `decider state` (the committed snapshot, from a running worker's HTTP endpoint or the local store); the store
 * opening `decider events` shares (events.ts).
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import type { SnapshotRecord } from '../domain/envelopes.ts'
import { StoreInUseError, UsageError } from '../errors.ts'
import { LevelSnapshotStore, storeDir } from '../state/level-store.ts'
import { retry } from '../util/retry.ts'
import { loadTopology, type Topology } from '../topology/loader.ts'
import { cliConfig, parseNonNegativeInt } from './common.ts'
import { partitionOf } from './partitioner.ts'

/**
 * Opens a partition's store for the CLI. LevelDB allows one process per store: while another process holds it
 * (a running worker, another CLI) this retries for up to `waitMs`, then fails saying who to stop.
 */
export async function openStore(
  stateDir: string,
  topology: Topology,
  partition: number,
  waitMs = 5_000,
): Promise<LevelSnapshotStore> {
  const dir = storeDir(stateDir, topology.definition.name, partition)
  const identity = {
    topology: topology.definition.name,
    changelogTopic: topology.topics.changelog,
    partition,
  }
  try {
    return await retry(() => LevelSnapshotStore.open(dir, identity), {
      retriable: isLocked,
      timeoutMs: waitMs,
      initialDelayMs: 100,
      maxDelayMs: 100,
    })
  } catch (e) {
    if (!isLocked(e)) throw e
    throw new StoreInUseError(
      `the snapshot store at ${dir} is in use by another process (a worker running with this stateDir?) for more than ${waitMs} ms; ` +
        `stop it, or read the aggregate with \`decider events\` instead`,
      { cause: e },
    )
  }
}

function isLocked(e: unknown): boolean {
  for (let c: unknown = e; c instanceof Error; c = c.cause) {
    if ((c as { code?: string }).code === 'LEVEL_LOCKED') return true
  }
  return false
}

export interface StateCliOptions {
  config?: string
  stateDir?: string
  /** A running worker's HTTP address (http.host:http.port); default DECIDER_URL unless --state-dir is given. */
  url?: string
  /** A bearer token of the worker's http.auth (read permission); default DECIDER_TOKEN. */
  token?: string
  timeout: string
  /** Bi-temporal bounds (through a worker): the state folded from the events within them. */
  eventTimeAsOf?: string
  recordedAsOf?: string
}

/**
 * The committed snapshot of an aggregate: from the running worker at `url` (GET /state/<topology>/<id>, served
 * by the task that owns the aggregate's partition, on that worker or forwarded to it), else from the local
 * LevelDB stores under the state dir.
 */
export async function stateCommand(file: string, aggregateId: string, o: StateCliOptions): Promise<number> {
  if (o.url !== undefined && o.stateDir !== undefined) {
    throw new UsageError('--url asks a running worker, --state-dir reads a local store: give one of them')
  }
  const url = o.url ?? (o.stateDir === undefined ? process.env.DECIDER_URL || undefined : undefined)
  const asOf = new URLSearchParams()
  if (o.eventTimeAsOf !== undefined) asOf.set('eventTimeAsOf', o.eventTimeAsOf)
  if (o.recordedAsOf !== undefined) asOf.set('recordedAsOf', o.recordedAsOf)
  if (asOf.size > 0 && url === undefined)
    throw new UsageError(
      '--event-time-as-of / --recorded-as-of are answered by a running worker: give --url (or DECIDER_URL)',
    )
  if (url !== undefined)
    return stateFromWorker(
      file,
      aggregateId,
      url,
      parseNonNegativeInt(o.timeout, '--timeout'),
      asOf,
      o.token ?? (process.env.DECIDER_TOKEN || undefined),
    )
  const topology = await loadTopology(file)
  const stateDir = o.stateDir ?? (await cliConfig(o.config)).stateDir
  const n = topology.definition.partitions
  const home = partitionOf(aggregateId, n)
  // Its own partition first; then every other partition store present (e.g. the partition count changed).
  const order = [home, ...Array.from({ length: n }, (_, i) => i).filter((p) => p !== home)]
  const present = order.filter((p) => existsSync(storeDir(stateDir, topology.definition.name, p)))
  if (present.length === 0) {
    console.error(
      `no snapshot store of topology ${topology.definition.name} under ${path.resolve(stateDir)} (run a worker with this stateDir, or pass --state-dir)`,
    )
    return 1
  }
  for (const p of present) {
    const store = await openStore(stateDir, topology, p)
    try {
      const [snapshot] = await store.getMany([aggregateId])
      if (snapshot !== undefined) {
        console.log(JSON.stringify({ partition: p, ...(snapshot satisfies SnapshotRecord) }, null, 2))
        return 0
      }
    } finally {
      await store.close()
    }
  }
  console.error(
    `aggregate ${aggregateId}: no snapshot in the stores of partitions ${present.join(', ')} under ${path.resolve(stateDir)} (expected in partition ${home})`,
  )
  return 1
}

/**
 * Asks a running worker (GET <url>/state/<topology>/<aggregateId>, or with as-of bounds
 * GET <url>/aggregates/<topology>/<aggregateId>/state?...), any of the group: the owner of the aggregate's
 * partition answers, named in `answeredBy`. Prints its answer.
 */
async function stateFromWorker(
  file: string,
  aggregateId: string,
  url: string,
  timeoutMs: number,
  asOf = new URLSearchParams(),
  token?: string,
): Promise<number> {
  let base: URL
  try {
    base = new URL(url)
  } catch {
    throw new UsageError(
      `--url / DECIDER_URL must be the worker's HTTP address, e.g. http://127.0.0.1:9464; got "${url}"`,
    )
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    throw new UsageError(`--url / DECIDER_URL must be an http(s) address, got "${url}"`)
  const topology = await loadTopology(file)
  const [name, id] = [encodeURIComponent(topology.definition.name), encodeURIComponent(aggregateId)]
  const target = new URL(
    asOf.size > 0 ? `aggregates/${name}/${id}/state?${asOf}` : `state/${name}/${id}`,
    base.href.endsWith('/') ? base.href : `${base.href}/`,
  )
  // Any worker answers: it forwards to the owner of the aggregate's partition. While the owner is not known (the
  // group rebalancing) it answers 503 with a retry hint: ask again, within --timeout.
  const deadline = Date.now() + timeoutMs
  let status = 0
  let text = ''
  for (let refused = false; ; refused = true) {
    try {
      const res = await fetch(target, {
        signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
        ...(token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {}),
      })
      status = res.status
      text = await res.text()
    } catch (e) {
      const err = e as Error & { cause?: { message?: string } }
      // Out of time while asking again: the refusal before is the answer (status and text are still its).
      if (refused && err.name === 'TimeoutError') break
      const why =
        err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err.cause?.message ?? err.message)
      console.error(
        `error: cannot reach the worker at ${base.origin}: ${why} (is it running? is this its http.host:http.port?)`,
      )
      return 1
    }
    const retryAfterMs = status === 503 ? retryHint(text) : undefined
    if (retryAfterMs === undefined || Date.now() + retryAfterMs >= deadline) break
    await new Promise((r) => setTimeout(r, retryAfterMs))
  }
  let body: { error?: unknown } | undefined
  try {
    body = JSON.parse(text) as { error?: unknown }
  } catch {
    body = undefined
  }
  if (status === 200 && body !== undefined) {
    console.log(JSON.stringify(body, null, 2))
    return 0
  }
  const error =
    body !== undefined && typeof body.error === 'string'
      ? body.error
      : `HTTP ${status}: ${text.trim().slice(0, 200)} (a worker without /state?)`
  console.error(
    `error: worker ${base.origin}: ${error}${status === 401 ? ' (give a token: --token or DECIDER_TOKEN)' : ''}`,
  )
  return 1
}

/** The retry hint of a 503 answer (`retryAfterMs`), undefined when it has none (then it is final). */
function retryHint(text: string): number | undefined {
  try {
    const ms = (JSON.parse(text) as { retryAfterMs?: unknown }).retryAfterMs
    return typeof ms === 'number' && ms > 0 ? Math.min(ms, 5_000) : undefined
  } catch {
    return undefined
  }
}
