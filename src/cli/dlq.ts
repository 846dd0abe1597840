/**
 * `decider dlq list|show|replay` and `decider console`: the web console's dead-letter operations and its page, over
 * a running worker's HTTP API (any worker of the group answers; its http.auth applies: read to list and show,
 * write to replay). A replay is recorded like the console's: the worker writes `decider-replay-of` and
 * `decider-replayed-by` (the token's name) on the replayed command and logs it.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import type { DeadLetter, DeadLetterList, ReplayAnswer } from '../http/console-api.ts'
import { workerGet } from '../client/worker-http.ts'
import { UsageError, WorkerReadError } from '../errors.ts'
import { readTopologyFile } from '../topology/loader.ts'
import { parseNonNegativeInt } from './common.ts'

export interface DlqCliOptions {
  url?: string
  token?: string
  timeout: string
  json?: boolean
  limit?: string
  partition?: string
  wait?: string
}

const DEFAULT_URL = 'http://127.0.0.1:9464'

function target(o: { url?: string; token?: string }): { url: string; token: string | undefined } {
  return {
    url: o.url ?? (process.env.DECIDER_URL || DEFAULT_URL),
    token: o.token ?? (process.env.DECIDER_TOKEN || undefined),
  }
}

/** A topology by name, or by its file (YAML): its name. */
async function topologyName(arg: string): Promise<string> {
  if (/\.ya?ml$/i.test(arg) && existsSync(arg)) return (await readTopologyFile(arg)).name
  if (arg === '') throw new UsageError('give a topology name (or its YAML file)')
  return arg
}

/** `partition:offset` (as `dlq list` prints them). */
export function parsePosition(s: string): { partition: number; offset: string } {
  const m = /^(\d{1,9}):(\d{1,19})$/.exec(s)
  if (m === null)
    throw new UsageError(
      `a dead letter is named <partition>:<offset> as dlq list prints it (e.g. 3:17), got "${s}"`,
    )
  return { partition: Number(m[1]), offset: m[2]! }
}

export async function dlqListCommand(topology: string, o: DlqCliOptions): Promise<number> {
  const { url, token } = target(o)
  const name = await topologyName(topology)
  const q = new URLSearchParams()
  if (o.limit !== undefined) q.set('limit', String(parseNonNegativeInt(o.limit, '--limit')))
  if (o.partition !== undefined) q.set('partition', String(parseNonNegativeInt(o.partition, '--partition')))
  const a = await workerGet(url, `dead-letters/${encodeURIComponent(name)}${q.size > 0 ? `?${q}` : ''}`, {
    timeoutMs: parseNonNegativeInt(o.timeout, '--timeout'),
    token,
  })
  const list = a.body as unknown as DeadLetterList
  if (o.json) {
    console.log(JSON.stringify(list.deadLetters, null, 2))
    return 0
  }
  if (list.deadLetters.length === 0) {
    console.error(`no dead letters in ${list.topic}`)
    return 0
  }
  for (const d of list.deadLetters) console.log(line(d))
  console.error(
    `${list.deadLetters.length} dead letter(s) in ${list.topic}; decider dlq show ${name} <partition:offset> for one`,
  )
  return 0
}

function line(d: DeadLetter): string {
  return [
    `${d.partition}:${d.offset}`,
    d.timestamp,
    d.reason,
    d.aggregateId === '' ? '(no key)' : d.aggregateId,
    d.command?.type ?? '(undecodable)',
    d.message.replace(/\s+/g, ' ').slice(0, 120),
    ...(d.replayOf !== undefined ? [`(replay of ${d.replayOf} by ${d.replayedBy ?? '?'})`] : []),
  ].join('  ')
}

export async function dlqShowCommand(topology: string, position: string, o: DlqCliOptions): Promise<number> {
  const { url, token } = target(o)
  const name = await topologyName(topology)
  const at = parsePosition(position)
  const a = await workerGet(url, `dead-letters/${encodeURIComponent(name)}/${at.partition}/${at.offset}`, {
    timeoutMs: parseNonNegativeInt(o.timeout, '--timeout'),
    token,
  })
  console.log(JSON.stringify(a.body.deadLetter, null, 2))
  return 0
}

/** Exit 0 when every one was replayed (and, when waited for, accepted or a duplicate), else 1. */
export async function dlqReplayCommand(
  topology: string,
  positions: string[],
  o: DlqCliOptions,
): Promise<number> {
  const { url, token } = target(o)
  const name = await topologyName(topology)
  if (positions.length === 0)
    throw new UsageError('name the dead letters to replay: <partition>:<offset> ...')
  const records = positions.map(parsePosition)
  const waitMs = parseNonNegativeInt(o.wait ?? '10000', '--wait')
  const timeoutMs = parseNonNegativeInt(o.timeout, '--timeout')
  const base = url.endsWith('/') ? url : `${url}/`
  let res: Response
  try {
    res = await fetch(new URL(`dead-letters/${encodeURIComponent(name)}/replay`, base), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ records, waitMs }),
      signal: AbortSignal.timeout(Math.max(timeoutMs, waitMs * records.length + 5_000)),
    })
  } catch (e) {
    throw new WorkerReadError(`cannot reach the worker at ${base}: ${(e as Error).message}`, { cause: e })
  }
  const body = (await res.json().catch(() => ({}))) as Partial<ReplayAnswer> & {
    error?: string
    code?: string
  }
  if (body.results === undefined)
    throw new WorkerReadError(
      `worker ${base}: ${body.error ?? `HTTP ${res.status}`} (${body.code ?? 'no code'})`,
    )
  let ok = true
  for (const r of body.results) {
    const reply = r.reply as { status?: string; error?: { code: string; message: string } } | undefined
    if (!r.ok) ok = false
    else if (reply !== undefined && reply.status !== 'accepted' && reply.status !== 'duplicate') ok = false
    console.log(
      r.ok
        ? `${r.partition}:${r.offset} replayed to ${r.sentTo?.topic}:${r.sentTo?.partition}:${r.sentTo?.offset}` +
            (reply !== undefined
              ? `: ${reply.status}${reply.error ? ` (${reply.error.code}: ${reply.error.message})` : ''}`
              : waitMs > 0
                ? ': no reply within --wait'
                : '')
        : `${r.partition}:${r.offset} not replayed: ${r.error ?? ''}`,
    )
  }
  console.error(`replayed by ${body.replayedBy ?? '?'}`)
  return ok ? 0 : 1
}

export interface ConsoleCliOptions {
  url?: string
  open: boolean
  timeout: string
}

/** `decider console`: checks that the worker serves the console, prints its URL and opens it in a browser. */
export async function consoleCommand(o: ConsoleCliOptions): Promise<number> {
  const url = o.url ?? (process.env.DECIDER_URL || DEFAULT_URL)
  let page: URL
  try {
    page = new URL('console/', url.endsWith('/') ? url : `${url}/`)
  } catch {
    throw new UsageError(`--url ${url} is not a URL (e.g. http://127.0.0.1:9464)`)
  }
  let res: Response
  try {
    res = await fetch(page, { signal: AbortSignal.timeout(parseNonNegativeInt(o.timeout, '--timeout')) })
  } catch (e) {
    throw new WorkerReadError(`cannot reach the worker at ${url}: ${(e as Error).message}`, { cause: e })
  }
  if (res.status !== 200)
    throw new WorkerReadError(
      `the worker at ${url} does not serve the console: ${res.status} ${(await res.text()).trim()}`,
    )
  console.log(page.href)
  if (o.open) openInBrowser(page.href)
  return 0
}

function openInBrowser(url: string): void {
  const [cmd, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '', url]]
        : ['xdg-open', [url]]
  try {
    const child = spawn(cmd, args, { stdio: 'ignore', detached: true })
    child.on('error', () => console.error(`could not start ${cmd}: open ${url} in a browser`))
    child.unref()
  } catch {
    console.error(`open ${url} in a browser`)
  }
}
