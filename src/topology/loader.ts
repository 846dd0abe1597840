import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { LineCounter, parseDocument, isMap, isNode, isScalar, type Document } from 'yaml'
import type { z } from 'zod'
import { ConfigError } from '../errors.ts'
import { deciderShapeProblems, type AnyDecider } from '../domain/decider.ts'
import { importUserModule } from './module-loader.ts'
import {
  topicNames,
  topologySchema,
  type TopicNames,
  type TopologyFile,
  type TopologyInput,
} from './schema.ts'

export interface Topology {
  file: string
  definition: TopologyFile
  topics: TopicNames
  decider: AnyDecider
  /** Consumer group id and transactional id prefix. */
  applicationId: string
}

/** Parses and validates a topology file; errors name the file, line, path and what is allowed. */
export async function readTopologyFile(file: string): Promise<TopologyFile> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    throw new ConfigError(`${file}: cannot read the topology file (${(e as Error).message})`)
  }
  return parseTopology(text, file)
}

export function parseTopology(text: string, file = '<topology>'): TopologyFile {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: true })
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!
    const pos = e.linePos?.[0]
    throw new ConfigError(
      `${file}:${pos?.line ?? '?'}:${pos?.col ?? '?'}: invalid YAML: ${e.message.split('\n')[0]}`,
    )
  }
  const result = topologySchema.safeParse(doc.toJS())
  if (!result.success) {
    throw new ConfigError(
      `${file}: invalid topology\n` +
        result.error.issues.map((i) => '  ' + describeIssue(i, doc, lineCounter, file)).join('\n'),
    )
  }
  return result.data
}

function describeIssue(issue: z.core.$ZodIssue, doc: Document, lc: LineCounter, file: string): string {
  const p = issue.path.map(String)
  // For unknown keys, point at the first unknown key itself, not at the map holding it.
  const line =
    issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined
      ? (keyLine(doc, lc, p, issue.keys[0]) ?? lineOf(doc, lc, p))
      : lineOf(doc, lc, p)
  const where = p.length > 0 ? p.join('.') : '(top level)'
  let what = issue.message
  if (issue.code === 'unrecognized_keys')
    what = `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}; remove or fix the spelling`
  return `${file}:${line ?? '?'}: ${where}: ${what}`
}

function keyLine(doc: Document, lc: LineCounter, mapPath: string[], key: string): number | undefined {
  const map = mapPath.length === 0 ? doc.contents : doc.getIn(mapPath, true)
  if (!isMap(map)) return undefined
  const pair = map.items.find((it) => isScalar(it.key) && String(it.key.value) === key)
  return isNode(pair?.key) && pair.key.range ? lc.linePos(pair.key.range[0]).line : undefined
}

function lineOf(doc: Document, lc: LineCounter, p: string[]): number | undefined {
  for (let n = p.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(p.slice(0, n), true)
    if (isNode(node) && node.range) return lc.linePos(node.range[0]).line
  }
  return undefined
}

/** Loads the topology file and the decider module it names (TypeScript or JavaScript: ./module-loader.ts). */
export async function loadTopology(file: string): Promise<Topology> {
  const definition = await readTopologyFile(file)
  const modulePath = path.resolve(path.dirname(file), definition.decider)
  const mod = await importUserModule(modulePath, file)
  const decider = exportedDecider(mod)
  const problems = deciderShapeProblems(decider)
  if (problems.length > 0) {
    throw new ConfigError(
      `${modulePath}: not a decider (export default defineDecider({...})):\n  ${problems.join('\n  ')}`,
    )
  }
  return fromDecider(decider as AnyDecider, definition, file)
}

/**
 * The module's decider: its default export (or an export named `decider`). A CommonJS module compiled from
 * `export default` arrives wrapped (`default.default`), so that is looked at too.
 */
function exportedDecider(mod: Record<string, unknown>): unknown {
  const outer = mod.default ?? mod.decider
  if (deciderShapeProblems(outer).length === 0 || typeof outer !== 'object' || outer === null) return outer
  const inner = (outer as Record<string, unknown>).default ?? (outer as Record<string, unknown>).decider
  return inner !== undefined && deciderShapeProblems(inner).length === 0 ? inner : outer
}

/** A topology for a decider given in code (tests, TopologyTestDriver). */
export function fromDecider(
  decider: AnyDecider,
  definition: Partial<TopologyInput> & { name: string },
  file = '<code>',
): Topology {
  const full = topologySchema.parse({ decider: '<code>', ...definition })
  return { file, definition: full, topics: topicNames(full), decider, applicationId: full.name }
}
