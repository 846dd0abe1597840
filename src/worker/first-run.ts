/**
 * The line a worker logs once, when it first becomes ready: where it listens (HTTP endpoints, brokers), what it
 * runs (each topology and its topics) and how to talk to it (a `decider send` command line, with a sample
 * payload made from the first command's schema).
 */
import path from 'node:path'
import { z } from 'zod'
import type { Topology } from '../topology/loader.ts'

export interface ReadyMessage {
  msg: string
  fields: Record<string, unknown>
}

export function readyMessage(
  topologies: readonly Topology[],
  brokers: readonly string[],
  httpUrl?: string,
): ReadyMessage {
  const sends = topologies.map(sendExample)
  const fields: Record<string, unknown> = {
    brokers,
    topologies: topologies.map((t) => ({
      name: t.definition.name,
      file: displayPath(t.file),
      partitions: t.definition.partitions,
      topics: t.topics,
    })),
    ...(httpUrl !== undefined
      ? {
          http: {
            console: `${httpUrl}/console/`,
            metrics: `${httpUrl}/metrics`,
            health: [`${httpUrl}/livez`, `${httpUrl}/readyz`],
            state: topologies.map(
              (t) => `${httpUrl}/state/${encodeURIComponent(t.definition.name)}/<aggregateId>`,
            ),
          },
        }
      : {}),
    send: sends,
  }
  const open = httpUrl !== undefined ? `console: ${httpUrl}/console/; ` : ''
  return { msg: `worker ready; ${open}send a command: ${sends[0] ?? 'npx decider send --help'}`, fields }
}

/** `npx decider send <file> --type <first command> --id <id> --payload '<sample>' --wait`. */
export function sendExample(t: Topology): string {
  const commands = (t.decider.commands ?? {}) as Record<string, unknown>
  const [type, schema] = Object.entries(commands)[0] ?? ['<CommandType>', undefined]
  const payload = samplePayload(schema)
  return [
    'npx decider send',
    shellWord(displayPath(t.file)),
    `--type ${shellWord(type)}`,
    '--id example-1',
    `--payload ${payload === undefined ? "'<json>'" : shellWord(JSON.stringify(payload))}`,
    '--wait',
  ].join(' ')
}

/** A payload a zod schema accepts, from its JSON Schema; undefined when the schema is not simple enough to guess. */
export function samplePayload(schema: unknown): unknown {
  if (!(schema instanceof z.ZodType)) return undefined
  let json: JsonSchema
  try {
    json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema
  } catch {
    return undefined
  }
  const value = sample(json, 0)
  return value !== undefined && schema.safeParse(value).success ? value : undefined
}

interface JsonSchema {
  type?: string | string[]
  properties?: Record<string, JsonSchema>
  required?: string[]
  enum?: unknown[]
  const?: unknown
  default?: unknown
  minimum?: number
  exclusiveMinimum?: number
  maximum?: number
  minLength?: number
  maxLength?: number
  format?: string
}

function sample(s: JsonSchema, depth: number): unknown {
  if (depth > 4) return undefined
  if (s.const !== undefined) return s.const
  if (s.default !== undefined) return s.default
  if (s.enum !== undefined) return s.enum[0]
  const type = Array.isArray(s.type) ? s.type[0] : s.type
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {}
      for (const key of s.required ?? []) {
        const v = s.properties?.[key] ? sample(s.properties[key], depth + 1) : undefined
        if (v === undefined) return undefined
        out[key] = v
      }
      return out
    }
    case 'string':
      if (s.format === 'email') return 'ada@example.com'
      if (s.format === 'uuid') return '00000000-0000-4000-8000-000000000000'
      if (s.format !== undefined) return undefined
      return 'example'.padEnd(s.minLength ?? 0, 'x').slice(0, s.maxLength ?? Infinity)
    case 'integer':
    case 'number': {
      const min = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : 100)
      return Math.min(Math.max(100, min), s.maximum ?? Infinity)
    }
    case 'boolean':
      return true
    case 'array':
      return []
    default:
      return undefined
  }
}

function displayPath(file: string): string {
  if (!path.isAbsolute(file)) return file
  const rel = path.relative(process.cwd(), file)
  return rel === '' || rel.startsWith('..') ? file : rel
}

/** Quotes a word for a POSIX shell when it needs it. */
function shellWord(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`
}
