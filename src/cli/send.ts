import { readFileSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { ConfigError, UsageError } from '../errors.ts'
import { CommandClient, ReplyTimeoutError, type SendOptions } from '../client/command-client.ts'
import type { ReplyEnvelope } from '../domain/envelopes.ts'
import { loadTopology } from '../topology/loader.ts'
import { cliConfig, cliKafka, parseNonNegativeInt, progressBar } from './common.ts'

export interface SendCliOptions {
  type?: string
  id?: string
  payload: string
  file?: string
  commandId?: string
  expectedVersion?: string
  wait?: boolean
  timeout: string
  config?: string
}

/**
 * `decider send`: one command (--type, --id, --payload) or many (--file commands.ndjson, one command per
 * line: { aggregateId, type, payload?, commandId?, expectedVersion?, metadata? }). With --wait, prints the
 * reply (one command) or counts by status (a file). Exit 0 when every reply is accepted/duplicate, 1 otherwise.
 */
export async function sendCommand(file: string, o: SendCliOptions): Promise<number> {
  if (o.file !== undefined) {
    if (
      o.type !== undefined ||
      o.id !== undefined ||
      o.commandId !== undefined ||
      o.expectedVersion !== undefined
    ) {
      throw new UsageError(
        '--file sends the commands of a file: leave out --type, --id, --command-id and --expected-version (put them on each line)',
      )
    }
    return sendFile(file, o)
  }
  if (o.type === undefined || o.id === undefined) {
    throw new UsageError(
      `send needs --type and --id (e.g. decider send ${file} --type Deposit --id acc-1 --payload '{"amount":100}'), or --file commands.ndjson`,
    )
  }
  const timeoutMs = parseNonNegativeInt(o.timeout, '--timeout')
  let payload: unknown
  try {
    payload = JSON.parse(o.payload.startsWith('@') ? readFileSync(o.payload.slice(1), 'utf8') : o.payload)
  } catch (e) {
    throw new ConfigError(
      `--payload is not valid JSON (${(e as Error).message}); e.g. --payload '{"amount": 100}'`,
    )
  }
  const cmd: SendOptions = {
    aggregateId: o.id,
    type: o.type,
    payload,
    ...(o.commandId ? { commandId: o.commandId } : {}),
    ...(o.expectedVersion !== undefined
      ? { expectedVersion: parseNonNegativeInt(o.expectedVersion, '--expected-version') }
      : {}),
  }
  const topology = await loadTopology(file)
  const client = await newClient(topology, o.config)
  try {
    if (!o.wait) {
      console.log(JSON.stringify({ commandId: await client.send(cmd) }))
      return 0
    }
    const reply = await client.sendAndWait(cmd, timeoutMs)
    console.log(JSON.stringify(reply, null, 2))
    return okStatus(reply) ? 0 : 1
  } finally {
    await client.close()
  }
}

const okStatus = (r: ReplyEnvelope) => r.status === 'accepted' || r.status === 'duplicate'

async function newClient(
  topology: Awaited<ReturnType<typeof loadTopology>>,
  configFile: string | undefined,
): Promise<CommandClient> {
  const config = await cliConfig(configFile)
  return new CommandClient({
    kafka: cliKafka(config),
    commandsTopic: topology.topics.commands,
    repliesTopic: topology.topics.replies,
    serialization: topology.definition.serialization,
  })
}

/** Parses an NDJSON file of commands; errors name the line. Blank lines and lines starting with # are skipped. */
export function parseCommandsFile(text: string, file: string): SendOptions[] {
  const out: SendOptions[] = []
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    let v: unknown
    try {
      v = JSON.parse(line)
    } catch (e) {
      throw new ConfigError(`${file}:${i + 1}: not valid JSON (${(e as Error).message})`)
    }
    const c = v as Record<string, unknown>
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw new ConfigError(`${file}:${i + 1}: a command must be a JSON object`)
    if (typeof c.aggregateId !== 'string' || c.aggregateId === '')
      throw new ConfigError(`${file}:${i + 1}: "aggregateId" (a non-empty string) is missing`)
    if (typeof c.type !== 'string' || c.type === '')
      throw new ConfigError(`${file}:${i + 1}: "type" (a non-empty string) is missing`)
    if (c.commandId !== undefined && typeof c.commandId !== 'string')
      throw new ConfigError(`${file}:${i + 1}: "commandId" must be a string`)
    if (
      c.expectedVersion !== undefined &&
      !(Number.isInteger(c.expectedVersion) && (c.expectedVersion as number) >= 0)
    ) {
      throw new ConfigError(`${file}:${i + 1}: "expectedVersion" must be a non-negative integer`)
    }
    out.push({
      aggregateId: c.aggregateId,
      type: c.type,
      payload: c.payload ?? {},
      commandId: (c.commandId as string | undefined) ?? randomUUID(),
      ...(c.expectedVersion !== undefined ? { expectedVersion: c.expectedVersion as number } : {}),
      ...(c.metadata !== undefined ? { metadata: c.metadata as SendOptions['metadata'] } : {}),
    })
  })
  return out
}

async function sendFile(file: string, o: SendCliOptions): Promise<number> {
  const path = o.file!
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new UsageError(`--file ${path}: cannot read it (${(e as Error).message})`)
  }
  const commands = parseCommandsFile(text, path)
  const timeoutMs = parseNonNegativeInt(o.timeout, '--timeout')
  const topology = await loadTopology(file)
  const client = await newClient(topology, o.config)
  const bar = progressBar(o.wait ? 'sent+replied' : 'sent', commands.length)
  try {
    if (!o.wait) {
      for (const c of commands) {
        await client.send(c)
        bar.increment()
      }
      bar.stop()
      console.log(JSON.stringify({ sent: commands.length }))
      return 0
    }
    // Bounded concurrency: replies arrive as the worker commits its batches.
    const statuses: Record<string, number> = {}
    let timedOut = 0
    const sendOne = async (c: SendOptions) => {
      try {
        const r = await client.sendAndWait(c, timeoutMs)
        statuses[r.status] = (statuses[r.status] ?? 0) + 1
      } catch (e) {
        if (!(e instanceof ReplyTimeoutError)) throw e
        timedOut++
      }
      bar.increment()
    }
    // A line repeating an earlier (aggregateId, commandId) waits for it: the client awaits one reply per pair
    // at a time, and in file order the repeat gets the worker's `duplicate` reply.
    const previous = new Map<string, Promise<unknown>>()
    const one = (c: SendOptions): Promise<void> => {
      const key = JSON.stringify([c.aggregateId, c.commandId])
      const done = (previous.get(key) ?? Promise.resolve()).then(() => sendOne(c))
      previous.set(
        key,
        done.catch(() => undefined),
      )
      return done
    }
    // The first command alone: CommandClient connects its producer and reply consumer on first use.
    if (commands.length > 0) await one(commands[0]!)
    let next = 1
    const lane = async () => {
      while (next < commands.length) await one(commands[next++]!)
    }
    await Promise.all(Array.from({ length: 64 }, lane))
    bar.stop()
    console.log(
      JSON.stringify({ sent: commands.length, replies: statuses, ...(timedOut > 0 ? { timedOut } : {}) }),
    )
    const bad = commands.length - (statuses.accepted ?? 0) - (statuses.duplicate ?? 0)
    return bad === 0 ? 0 : 1
  } finally {
    bar.stop()
    await client.close()
  }
}
