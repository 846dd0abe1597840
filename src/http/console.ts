/**
 * The web console's files and its catalog:
 *
 *   GET /console, /console/            the page (index.html); the pages are its #/... routes
 *   GET /console/<file>                 its script and style sheet (no data: open without credentials, auth.ts)
 *   GET /topologies                     what this worker runs: topologies (topics, command payload schemas as JSON
 *                                       Schema, event types), projections, and what the caller may do
 *
 * The files are built by `npm run build:console` (scripts/build-console.ts, esbuild) into dist/console/, which the
 * package ships (package.json `files`); they are read from there once and kept in memory, gzipped for clients that
 * take it. No file from anywhere else is served: a name is a plain file name of that folder.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { z } from 'zod'
import type { AnyDecider } from '../domain/decider.ts'
import { principalOf } from './auth.ts'
import type { CatalogAnswer } from './console-api.ts'

/** Where the built console is: dist/console/ of the package (from src/http/ or dist/http/ alike). */
export const CONSOLE_DIR = fileURLToPath(new URL('../../dist/console/', import.meta.url))

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
}

interface Asset {
  type: string
  body: Buffer
  gzip: Buffer
}

/**
 * The page's security headers: scripts and styles only from this worker (no inline script, no CDN), no framing.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

export type ConsoleFiles = (req: IncomingMessage, res: ServerResponse, path: string) => void

/** Serves the console's files from `dir` (default CONSOLE_DIR), read once. */
export function consoleFiles(dir = CONSOLE_DIR): ConsoleFiles {
  let assets: Map<string, Asset> | undefined
  const load = (): Map<string, Asset> => {
    const out = new Map<string, Asset>()
    if (!existsSync(dir)) return out
    for (const name of readdirSync(dir)) {
      const ext = /\.[a-z]+$/.exec(name)?.[0] ?? ''
      const type = TYPES[ext]
      if (type === undefined) continue
      const body = readFileSync(join(dir, name))
      out.set(name, { type, body, gzip: gzipSync(body) })
    }
    return out
  }
  return (req, res, path) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' })
      res.end(`use GET for ${path}\n`)
      return
    }
    if (path === '/console') {
      res.writeHead(302, { location: '/console/', 'cache-control': 'no-store' }).end()
      return
    }
    assets ??= load()
    if (assets.size === 0) assets = undefined // not built yet: look again next time
    const name = path === '/console/' ? 'index.html' : path.slice('/console/'.length)
    const asset = /^[\w.-]+$/.test(name) ? assets?.get(name) : undefined
    if (asset === undefined) {
      const why =
        assets === undefined
          ? `the console is not built (no files in ${dir}): run npm run build:console (npm run build does it too)`
          : `no console file ${name.slice(0, 100)}`
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
      res.end(req.method === 'HEAD' ? undefined : `${why}\n`)
      return
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))
    const body = gzip ? asset.gzip : asset.body
    res.writeHead(200, {
      'content-type': asset.type,
      'content-length': String(body.length),
      'cache-control': 'no-cache',
      vary: 'accept-encoding',
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
      ...SECURITY_HEADERS,
    })
    res.end(req.method === 'HEAD' ? undefined : body)
  }
}

export interface CatalogOptions {
  topologies: readonly {
    definition: { name: string; partitions: number }
    topics: { commands: string; events: string; replies: string; deadLetters: string }
    decider: AnyDecider
  }[]
  projections: readonly {
    definition: { name: string; partitions: number }
    topics: { deadLetters: string }
    sources: readonly { topic: string }[]
  }[]
  /** Whether POST /commands is served (http.commands). */
  commands: boolean
}

export type CatalogQuery = (req: IncomingMessage) => CatalogAnswer

/** GET /topologies: the JSON Schemas are made once (zod's toJSONSchema; what it cannot express is left open). */
export function catalogQuery(o: CatalogOptions): CatalogQuery {
  const topologies = o.topologies.map((t) => ({
    name: t.definition.name,
    partitions: t.definition.partitions,
    topics: {
      commands: t.topics.commands,
      events: t.topics.events,
      replies: t.topics.replies,
      deadLetters: t.topics.deadLetters,
    },
    commands: Object.fromEntries(
      Object.entries(t.decider.commands as Record<string, unknown>).map(([type, schema]) => [
        type,
        jsonSchemaOf(schema),
      ]),
    ),
    events: Object.keys(t.decider.events as Record<string, unknown>),
  }))
  const projections = o.projections.map((p) => ({
    name: p.definition.name,
    partitions: p.definition.partitions,
    sources: p.sources.map((s) => s.topic),
    deadLetters: p.topics.deadLetters,
  }))
  return (req) => {
    const principal = principalOf(req)
    const may = (p: 'read' | 'write') => principal === undefined || principal.permissions.has(p)
    return {
      topologies,
      projections,
      permissions: { read: may('read'), write: may('write') },
      commands: o.commands,
    }
  }
}

function jsonSchemaOf(schema: unknown): unknown {
  try {
    return z.toJSONSchema(schema as z.ZodType, { unrepresentable: 'any' })
  } catch {
    return {} // a schema zod cannot describe (a custom one): the form takes any JSON
  }
}
