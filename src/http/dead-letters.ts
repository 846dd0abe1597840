/**
 * A topology's dead letters (its `topics.deadLetters` topic, README "Bad input"), read and replayed:
 *
 *   GET  /dead-letters/<topology>?limit=&partition=&before=   the newest dead letters of each partition
 *   GET  /dead-letters/<topology>/<partition>/<offset>         one
 *   POST /dead-letters/<topology>/replay                       { records: [{ partition, offset }], waitMs? }
 *
 * Reads need the read permission, a replay the write permission (auth.ts). A replay writes the dead letter's key,
 * value and original headers (the kd-* ones left out) back to the topology's commands topic, partitioned by its
 * key like any command, with two headers that record it: `decider-replay-of: <dlq topic>:<partition>:<offset>`
 * and `decider-replayed-by: <token or certificate name>`; the worker logs a line per replay (never the payload).
 * With waitMs, the answer carries each replayed command's reply.
 */
import type { IncomingMessage } from 'node:http'
import { z } from 'zod'
import { decode } from '../domain/codec.ts'
import { HEADERS, type ReplyEnvelope } from '../domain/envelopes.ts'
import { principalOf } from './auth.ts'
import { readJsonBody, type Answer } from './commands.ts'
import type { DeadLetter, DeadLetterList, ReplayAnswer, ReplayResult } from './console-api.ts'

export const REPLAY_OF_HEADER = 'decider-replay-of'
export const REPLAYED_BY_HEADER = 'decider-replayed-by'

/** A dead letter as read from its topic (src/kafka/dead-letter-reader.ts). */
export interface StoredDeadLetter {
  partition: number
  offset: string
  timestamp: string
  key: Buffer | null
  value: Buffer | null
  headers: Record<string, string>
}

export interface DeadLetterStore {
  list(
    topic: string,
    o: { limit: number; partition?: number; before?: bigint; timeoutMs: number },
  ): Promise<
    | { records: StoredDeadLetter[]; partitions: { partition: number; start: string; end: string }[] }
    | undefined
  >
  one(
    topic: string,
    partition: number,
    offset: bigint,
    timeoutMs: number,
  ): Promise<StoredDeadLetter | undefined | 'no_topic'>
}

/** Writes a command record to a topology's commands topic; with `wait`, resolves with its reply too. */
export type CommandReplayer = (
  topology: string,
  record: { key: Buffer | null; value: Buffer | null; headers: Record<string, string> },
  wait: { aggregateId: string; commandId: string; timeoutMs: number } | undefined,
) => Promise<{ sentTo: { topic: string; partition: number; offset: string }; reply?: ReplyEnvelope }>

export interface DeadLetterOptions {
  topologies: readonly { name: string; commands: string; deadLetters: string }[]
  store: DeadLetterStore
  replay: CommandReplayer
  /** Bound on one read of the topic (default 10 s). */
  readTimeoutMs?: number
  /** Called per replayed dead letter (the worker logs it). */
  onReplayed?: (r: { topology: string; from: string; by: string; sentTo?: string; error?: string }) => void
}

const MAX_LIMIT = 500
const MAX_REPLAY = 100
const MAX_WAIT_MS = 30_000

const replaySchema = z
  .object({
    records: z
      .array(
        z
          .object({
            partition: z.number().int().min(0),
            offset: z.union([z.string().regex(/^\d{1,19}$/), z.number().int().min(0)]),
          })
          .strict(),
      )
      .min(1)
      .max(MAX_REPLAY),
    waitMs: z.number().int().min(0).max(MAX_WAIT_MS).optional(),
  })
  .strict()

export function isDeadLetterPath(path: string): boolean {
  return path === '/dead-letters' || path.startsWith('/dead-letters/')
}

export async function deadLetterRoute(
  req: IncomingMessage,
  path: string,
  query: URLSearchParams,
  answer: Answer,
  o: DeadLetterOptions,
): Promise<void> {
  const timeoutMs = o.readTimeoutMs ?? 10_000
  const parts = path.split('/').slice(2)
  let name: string | undefined
  try {
    name = parts[0] === undefined ? undefined : decodeURIComponent(parts[0])
  } catch {
    name = undefined
  }
  const usage =
    'use GET /dead-letters/<topology>?limit=&partition=&before=, GET /dead-letters/<topology>/<partition>/<offset> or POST /dead-letters/<topology>/replay'
  if (name === undefined || name === '' || parts.length > 3)
    return answer(400, { error: usage, code: 'bad_request' })
  const topology = o.topologies.find((t) => t.name === name)
  if (topology === undefined)
    return answer(404, {
      error: `this worker does not run topology ${name} (it runs: ${o.topologies.map((t) => t.name).join(', ') || 'none'})`,
      code: 'unknown_topology',
    })
  const isReplay = parts.length === 2 && parts[1] === 'replay'
  if (isReplay !== (req.method === 'POST'))
    return answer(
      405,
      { error: isReplay ? 'use POST for a replay' : `use GET for ${path}`, code: 'method_not_allowed' },
      { allow: isReplay ? 'POST' : 'GET, HEAD' },
    )
  if (isReplay) return replay(req, answer, o, topology, timeoutMs)
  if (parts.length === 1) {
    const limit = intOf(query, 'limit', 50, 1, MAX_LIMIT)
    const partition = intOf(query, 'partition', undefined, 0, 1_000_000)
    const before = query.get('before')
    if (typeof limit === 'string') return answer(400, { error: limit, code: 'bad_request' })
    if (typeof partition === 'string') return answer(400, { error: partition, code: 'bad_request' })
    if (before !== null && !/^\d{1,19}$/.test(before))
      return answer(400, {
        error: `before must be an offset, got "${before.slice(0, 40)}"`,
        code: 'bad_request',
      })
    const page = await o.store.list(topology.deadLetters, {
      limit: limit!,
      ...(partition !== undefined ? { partition } : {}),
      ...(before !== null ? { before: BigInt(before) } : {}),
      timeoutMs,
    })
    if (page === undefined) return answer(200, emptyList(topology) as unknown as Record<string, unknown>)
    const body: DeadLetterList = {
      topology: topology.name,
      topic: topology.deadLetters,
      deadLetters: page.records.map((r) => describe(topology, r)),
      partitions: page.partitions,
    }
    return answer(200, body as unknown as Record<string, unknown>)
  }
  const at = position(parts[1], parts[2])
  if (at === undefined)
    return answer(400, { error: `${usage} (partition and offset are integers)`, code: 'bad_request' })
  const found = await o.store.one(topology.deadLetters, at.partition, at.offset, timeoutMs)
  if (found === undefined || found === 'no_topic')
    return answer(404, {
      error: `no dead letter at ${topology.deadLetters} partition ${at.partition} offset ${at.offset}`,
      code: 'not_found',
    })
  return answer(200, { deadLetter: describe(topology, found) })
}

async function replay(
  req: IncomingMessage,
  answer: Answer,
  o: DeadLetterOptions,
  topology: DeadLetterOptions['topologies'][number],
  timeoutMs: number,
): Promise<void> {
  const body = await readJsonBody(req, answer, {
    maxBodyBytes: 64 * 1024,
    schema: replaySchema,
    what: 'a replay request',
    example: `{"records":[{"partition":0,"offset":"12"}],"waitMs"?:5000} (at most ${MAX_REPLAY} records)`,
  })
  if (body === undefined) return
  const principal = principalOf(req)
  const by = principal === undefined ? 'anonymous (http.auth off)' : `${principal.via} ${principal.name}`
  const results: ReplayResult[] = []
  for (const r of body.data.records) {
    const offset = BigInt(r.offset)
    const from = `${topology.deadLetters}:${r.partition}:${offset}`
    const result: ReplayResult = { partition: r.partition, offset: String(offset), ok: false }
    results.push(result)
    try {
      const found = await o.store.one(topology.deadLetters, r.partition, offset, timeoutMs)
      if (found === undefined || found === 'no_topic') {
        result.error = `no dead letter at ${from}`
        o.onReplayed?.({ topology: topology.name, from, by, error: result.error })
        continue
      }
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(found.headers))
        if (!k.startsWith('kd-') && k !== REPLAY_OF_HEADER && k !== REPLAYED_BY_HEADER) headers[k] = v
      headers[REPLAY_OF_HEADER] = from
      headers[REPLAYED_BY_HEADER] = by
      const d = describe(topology, found)
      const wait =
        body.data.waitMs !== undefined && body.data.waitMs > 0 && d.command?.commandId !== undefined
          ? { aggregateId: d.aggregateId, commandId: d.command.commandId, timeoutMs: body.data.waitMs }
          : undefined
      const done = await o.replay(topology.name, { key: found.key, value: found.value, headers }, wait)
      result.ok = true
      result.sentTo = done.sentTo
      if (done.reply !== undefined) result.reply = done.reply
      o.onReplayed?.({
        topology: topology.name,
        from,
        by,
        sentTo: `${done.sentTo.topic}:${done.sentTo.partition}:${done.sentTo.offset}`,
      })
    } catch (e) {
      result.error = (e as Error).message
      o.onReplayed?.({ topology: topology.name, from, by, error: result.error })
    }
  }
  const answerBody: ReplayAnswer = { topology: topology.name, replayedBy: by, results }
  answer(
    results.every((r) => r.ok) ? 200 : results.some((r) => r.ok) ? 207 : 404,
    answerBody as unknown as Record<string, unknown>,
  )
}

/** A stored dead letter as the API shows it: reason, source, the command decoded when it decodes. */
export function describe(topology: { name: string; deadLetters: string }, r: StoredDeadLetter): DeadLetter {
  const h = r.headers
  const sourcePartition = h[HEADERS.sourcePartition]
  const d: DeadLetter = {
    topology: topology.name,
    topic: topology.deadLetters,
    partition: r.partition,
    offset: r.offset,
    timestamp: new Date(Number(r.timestamp)).toISOString(),
    reason: h[HEADERS.errorCode] ?? '',
    message: h[HEADERS.errorMessage] ?? '',
    source: {
      topic: h[HEADERS.sourceTopic] ?? '',
      partition:
        sourcePartition !== undefined && /^\d+$/.test(sourcePartition) ? Number(sourcePartition) : null,
      offset: h[HEADERS.sourceOffset] ?? null,
    },
    aggregateId: r.key === null ? '' : r.key.toString('utf8'),
    headers: h,
    ...(h[REPLAY_OF_HEADER] !== undefined ? { replayOf: h[REPLAY_OF_HEADER] } : {}),
    ...(h[REPLAYED_BY_HEADER] !== undefined ? { replayedBy: h[REPLAYED_BY_HEADER] } : {}),
  }
  if (r.value === null) {
    d.undecodable = 'the record has no value'
    return d
  }
  try {
    const v = decode(r.value, h[HEADERS.contentType])
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      d.undecodable = 'the value is not a command envelope (not an object)'
      return d
    }
    const e = v as Record<string, unknown>
    d.command = {
      ...(typeof e.commandId === 'string' ? { commandId: e.commandId } : {}),
      ...(typeof e.type === 'string' ? { type: e.type } : {}),
      ...('payload' in e ? { payload: e.payload } : {}),
      ...(typeof e.expectedVersion === 'number' ? { expectedVersion: e.expectedVersion } : {}),
      ...('metadata' in e ? { metadata: e.metadata } : {}),
    }
  } catch (e) {
    d.undecodable = `the value does not decode: ${(e as Error).message}`
  }
  return d
}

function emptyList(t: { name: string; deadLetters: string }): DeadLetterList {
  return { topology: t.name, topic: t.deadLetters, deadLetters: [], partitions: [] }
}

function position(
  p: string | undefined,
  o: string | undefined,
): { partition: number; offset: bigint } | undefined {
  if (p === undefined || o === undefined || !/^\d{1,9}$/.test(p) || !/^\d{1,19}$/.test(o)) return undefined
  return { partition: Number(p), offset: BigInt(o) }
}

function intOf(
  q: URLSearchParams,
  name: string,
  dflt: number | undefined,
  min: number,
  max: number,
): number | undefined | string {
  const raw = q.get(name)
  if (raw === null || raw === '') return dflt
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min || n > max)
    return `${name} must be an integer in ${min}..${max}, got "${raw.slice(0, 40)}"`
  return n
}
