/**
 * POST /commands/<topology>: an HTTP front door to the Kafka path. The body is sent to the commands topic like
 * any other command (the CommandClient: keyed by aggregateId, murmur2-partitioned) and the worker waits for its
 * committed reply; the reply envelope comes back with the HTTP status of its outcome:
 *
 *   accepted, duplicate -> 200     conflict -> 409     rejected, invalid -> 422     failed -> 500
 *   no reply within the timeout -> 504 reply_timeout (the command may still be processed: send it again with the
 *   same commandId to learn its outcome, as a duplicate)
 *   bad body or query -> 400, body too large -> 413, not JSON -> 415, unknown topology -> 404
 *
 * An accepted reply (and a duplicate of one) also says where its last event is on the events topic:
 * `positions: [{ topic, partition, offset }]` (positions.ts), what GET /views/...?waitFor= waits for; when they
 * cannot be found in time, `positionsUnavailable` says why instead (the command is accepted all the same).
 *
 * With http.auth on, the route needs the `write` permission (auth.ts, checked before this); the positions of an
 * accepted reply are read from the event index, so they come only to a caller that may also `read`.
 * http.commands: false turns the route off.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { z } from 'zod'
import {
  checkAggregateId,
  commandMetadataSchema,
  type ReplyEnvelope,
  type ReplyStatus,
} from '../domain/envelopes.ts'
import { ReplyTimeoutError, UsageError } from '../errors.ts'
import { hasPositions, type ReplyPositions } from './positions.ts'

/** The request body; also the source of the CommandRequest schema in docs/openapi.yaml (a test compares them). */
export const commandRequestSchema = z
  .object({
    aggregateId: z.string().min(1),
    type: z.string().min(1).max(256),
    payload: z.unknown().optional(),
    commandId: z.string().min(1).max(256).optional(),
    expectedVersion: z.number().int().min(0).optional(),
    metadata: commandMetadataSchema.optional(),
  })
  .strict()

export type CommandRequest = z.infer<typeof commandRequestSchema> & { commandId: string }

/** Sends a command through Kafka and resolves with its reply; ReplyTimeoutError when none came within timeoutMs. */
export type CommandSender = (
  topology: string,
  cmd: CommandRequest,
  timeoutMs: number,
) => Promise<ReplyEnvelope>

export const HTTP_STATUS_OF_REPLY: Record<ReplyStatus, number> = {
  accepted: 200,
  duplicate: 200,
  conflict: 409,
  rejected: 422,
  invalid: 422,
  failed: 500,
}

export interface CommandDoorOptions {
  /** Topologies this worker runs (only those take commands here). */
  topologies: readonly string[]
  /** Undefined when http.commands is false: the route answers 404 commands_disabled. */
  send?: CommandSender
  /** Default wait for the reply (10 s) and the most a caller may ask for with ?timeoutMs= (60 s). */
  defaultTimeoutMs?: number
  maxTimeoutMs?: number
  /** Largest body taken (1 MiB; the worker refuses records above processing.maxRecordBytes anyway). */
  maxBodyBytes?: number
  /** Finds the events-topic positions of an accepted reply's events (positions.ts); without it, replies carry none. */
  positions?: ReplyPositions
  /** Bound on finding them (default 5 s, and at most what is left of timeoutMs, but at least 1 s). */
  positionsTimeoutMs?: number
}

export type Answer = (status: number, body: Record<string, unknown>, headers?: Record<string, string>) => void

/** Who sent the command: whether it may read (positions), and its Authorization header (for the owner asked). */
export interface CommandCaller {
  canRead: boolean
  authorization?: string | undefined
}

export async function commandRoute(
  req: IncomingMessage,
  path: string,
  query: URLSearchParams,
  answer: Answer,
  o: CommandDoorOptions,
  caller: CommandCaller = { canRead: true },
): Promise<void> {
  const m = /^\/commands\/([^/]+)$/.exec(path)
  let name: string | undefined
  try {
    name = m ? decodeURIComponent(m[1]!) : undefined
  } catch {
    name = undefined
  }
  if (name === undefined || name === '')
    return answer(400, { error: 'use POST /commands/<topology> (the name URL-encoded)', code: 'bad_request' })
  if (req.method !== 'POST')
    return answer(
      405,
      { error: `use POST for /commands/${name}`, code: 'method_not_allowed' },
      { allow: 'POST' },
    )
  if (o.send === undefined)
    return answer(404, {
      error:
        'this worker takes no commands over HTTP (http.commands is false); send them to the commands topic',
      code: 'commands_disabled',
    })
  if (!o.topologies.includes(name))
    return answer(404, {
      error: `this worker does not run topology ${name} (it runs: ${o.topologies.join(', ') || 'none'})`,
      code: 'unknown_topology',
    })
  const maxTimeoutMs = o.maxTimeoutMs ?? 60_000
  const rawTimeout = query.get('timeoutMs')
  const timeoutMs = rawTimeout === null ? (o.defaultTimeoutMs ?? 10_000) : Number(rawTimeout)
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > maxTimeoutMs)
    return answer(400, {
      error: `timeoutMs must be an integer in 1..${maxTimeoutMs}, got ${JSON.stringify(rawTimeout)}`,
      code: 'bad_request',
    })
  const body = await readJsonBody(req, answer, {
    maxBodyBytes: o.maxBodyBytes ?? 1024 * 1024,
    schema: commandRequestSchema,
    what: 'a command',
    example: '{"aggregateId","type","payload","commandId"?,"expectedVersion"?,"metadata"?}',
  })
  if (body === undefined) return
  const problem = checkAggregateId(body.data.aggregateId)
  if (problem !== undefined)
    return answer(400, { error: `aggregateId: ${problem.message}`, code: 'invalid_body' })
  const cmd: CommandRequest = {
    ...body.data,
    payload: body.data.payload ?? {},
    commandId: body.data.commandId ?? randomUUID(),
  }
  const ids = { commandId: cmd.commandId, aggregateId: cmd.aggregateId }

  let reply: ReplyEnvelope
  const deadline = Date.now() + timeoutMs
  try {
    reply = await o.send(name, cmd, timeoutMs)
  } catch (e) {
    if (e instanceof ReplyTimeoutError)
      return answer(504, {
        error: `${e.message}; send it again with commandId ${cmd.commandId}: if it was processed meanwhile, the answer is its outcome (duplicate)`,
        code: 'reply_timeout',
        ...ids,
      })
    if (e instanceof UsageError) return answer(409, { error: e.message, code: 'reply_pending', ...ids })
    return answer(503, {
      error: `sending the command failed: ${(e as Error).message}; send it again with commandId ${cmd.commandId} (a command that did arrive is answered as a duplicate)`,
      code: 'send_failed',
      ...ids,
    })
  }
  let where: Record<string, unknown> = {}
  if (o.positions !== undefined && hasPositions(reply) && !caller.canRead) {
    where = {
      positionsUnavailable:
        'the positions are read from the event index: they need the read permission, which this caller lacks',
    }
  } else if (o.positions !== undefined && hasPositions(reply)) {
    const bound = Math.max(1_000, Math.min(o.positionsTimeoutMs ?? 5_000, deadline - Date.now()))
    const found = await o
      .positions(name, reply, bound, { authorization: caller.authorization })
      .catch((e: unknown) => ({
        unavailable: (e as Error).message,
      }))
    where =
      'positions' in found ? { positions: found.positions } : { positionsUnavailable: found.unavailable }
  }
  answer(HTTP_STATUS_OF_REPLY[reply.status] ?? 500, { ...reply, ...where })
}

/**
 * The body; undefined when it is above `max` bytes (then nothing more is kept: the rest is read and dropped while
 * the 413 goes out, and the connection closes after it); 'aborted' when the client went away before its end (or
 * the server cut it: http.requestTimeoutMs).
 */
/**
 * A JSON body of `schema`, or undefined once the request is answered: 415 (not JSON), 413 (above maxBodyBytes, the
 * connection then closes), 400 (not JSON, or not `what`: the issues and an `example`), or nothing (the client went
 * away). Shared by the POST routes (commands, SQL).
 */
export async function readJsonBody<T>(
  req: IncomingMessage,
  answer: Answer,
  o: { maxBodyBytes: number; schema: z.ZodType<T>; what: string; example: string },
): Promise<{ data: T } | undefined> {
  const type = req.headers['content-type']
  if (type !== undefined && !/^application\/([\w.+-]*\+)?json\b/i.test(type)) {
    answer(415, { error: `send ${o.what} as application/json, not ${type}`, code: 'unsupported_media_type' })
    return undefined
  }
  const raw = await readBody(req, o.maxBodyBytes)
  if (raw === 'aborted') return undefined // the client went away (or its body timed out: answered by the server)
  if (raw === undefined) {
    answer(
      413,
      { error: `the body is above ${o.maxBodyBytes} bytes`, code: 'body_too_large' },
      { connection: 'close' },
    )
    return undefined
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(raw.toString('utf8'))
  } catch (e) {
    answer(400, { error: `the body is not JSON: ${(e as Error).message}`, code: 'invalid_body' })
    return undefined
  }
  const body = o.schema.safeParse(parsed)
  if (!body.success) {
    answer(400, {
      error:
        `the body is not ${o.what}: ` +
        body.error.issues.map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`).join('; ') +
        `; send ${o.example}`,
      code: 'invalid_body',
    })
    return undefined
  }
  return { data: body.data }
}

export function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    const settle = (v: Buffer | undefined | 'aborted') => {
      if (done) return
      done = true
      resolve(v)
    }
    req.on('data', (c: Buffer) => {
      if (done) return
      size += c.length
      if (size > max) {
        chunks.length = 0
        settle(undefined)
      } else chunks.push(c)
    })
    req.once('end', () => settle(Buffer.concat(chunks)))
    req.once('error', () => settle('aborted'))
    req.once('close', () => settle(req.complete ? Buffer.concat(chunks) : 'aborted'))
  })
}
