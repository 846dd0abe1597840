/**
 * Loads a projection topology file (`kind: projection`) and the modules it names: the projector, and the decider
 * of each source topology (its events topic, and its upcasters: a projector sees events in their current shape).
 */
import path from 'node:path'
import { LineCounter, parseDocument } from 'yaml'
import { readFile } from 'node:fs/promises'
import { ConfigError } from '../errors.ts'
import type { AnyDecider } from '../domain/decider.ts'
import { projectionShapeProblems, type AnyProjection } from '../domain/projection.ts'
import { loadTopology, parseTopology, type Topology } from './loader.ts'
import { importUserModule } from './module-loader.ts'
import {
  projectionTopicNames,
  projectionTopologySchema,
  type ProjectionFile,
  type ProjectionInput,
  type ProjectionTopicNames,
} from './projection-schema.ts'

export interface ProjectionSource {
  /** The events topic read. */
  topic: string
  /** The decider topology that writes it (upcasting, partition count), when the source names one. */
  topology?: Topology
}

export interface ProjectionTopology {
  kind: 'projection'
  file: string
  definition: ProjectionFile
  topics: ProjectionTopicNames
  projection: AnyProjection
  sources: ProjectionSource[]
  /** The projection stage's consumer group and transactional id prefix. */
  applicationId: string
}

/** The consumer group (and transactional id prefix) that routes one source topic into the repartition topic. */
export function routerGroupId(p: Pick<ProjectionTopology, 'applicationId'>, sourceTopic: string): string {
  return `${p.applicationId}.route.${sourceTopic}`
}

/** The decider of a source topic, for upcasting (undefined: events are read as stored). */
export function deciderOfSource(p: ProjectionTopology, topic: string): AnyDecider | undefined {
  return p.sources.find((s) => s.topic === topic)?.topology?.decider
}

/** Whether a topology file's text declares `kind: projection`. */
export function isProjectionText(text: string): boolean {
  const doc = parseDocument(text, { lineCounter: new LineCounter() })
  const js = doc.errors.length > 0 ? undefined : (doc.toJS() as { kind?: unknown } | null)
  return js?.kind === 'projection'
}

export function parseProjection(text: string, file = '<projection>'): ProjectionFile {
  const doc = parseDocument(text)
  if (doc.errors.length > 0) return parseTopology(text, file) as never // the decider parser words YAML errors
  const result = projectionTopologySchema.safeParse(doc.toJS())
  if (!result.success)
    throw new ConfigError(
      `${file}: invalid projection topology\n` +
        result.error.issues
          .map(
            (i) =>
              `  ${file}: ${i.path.length > 0 ? i.path.join('.') : '(top level)'}: ${i.code === 'unrecognized_keys' ? `unknown key(s) ${i.keys.map((k) => `"${k}"`).join(', ')}; remove or fix the spelling` : i.message}`,
          )
          .join('\n'),
    )
  return result.data
}

export async function loadProjection(file: string): Promise<ProjectionTopology> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    throw new ConfigError(`${file}: cannot read the topology file (${(e as Error).message})`)
  }
  const definition = parseProjection(text, file)
  const modulePath = path.resolve(path.dirname(file), definition.projection)
  const mod = await importUserModule(modulePath, file)
  const projection = exportedProjection(mod)
  const problems = projectionShapeProblems(projection)
  if (problems.length > 0)
    throw new ConfigError(
      `${modulePath}: not a projection (export default defineProjection({...})):\n  ${problems.join('\n  ')}`,
    )
  const sources: ProjectionSource[] = []
  for (const s of definition.sources) {
    if ('topic' in s) sources.push({ topic: s.topic })
    else {
      const topology = await loadTopology(path.resolve(path.dirname(file), s.topology))
      sources.push({ topic: topology.topics.events, topology })
    }
  }
  return fromProjectionDefinition(projection as AnyProjection, definition, sources, file)
}

/** A projection given in code (tests, the test driver): definition defaults applied. */
export function fromProjection(
  projection: AnyProjection,
  definition: Partial<ProjectionInput> & { name: string },
  sources: ProjectionSource[],
  file = '<code>',
): ProjectionTopology {
  const full = projectionTopologySchema.parse({
    kind: 'projection',
    projection: '<code>',
    sources: sources.map((s) => ({ topic: s.topic })),
    ...definition,
  })
  return fromProjectionDefinition(projection, full, sources, file)
}

function fromProjectionDefinition(
  projection: AnyProjection,
  definition: ProjectionFile,
  sources: ProjectionSource[],
  file: string,
): ProjectionTopology {
  const topics = new Set(sources.map((s) => s.topic))
  if (topics.size !== sources.length) throw new ConfigError(`${file}: sources: a topic is named twice`)
  return {
    kind: 'projection',
    file,
    definition,
    topics: projectionTopicNames(definition),
    projection,
    sources,
    applicationId: definition.name,
  }
}

function exportedProjection(mod: Record<string, unknown>): unknown {
  const outer = mod.default ?? mod.projection
  if (projectionShapeProblems(outer).length === 0 || typeof outer !== 'object' || outer === null) return outer
  const inner = (outer as Record<string, unknown>).default ?? (outer as Record<string, unknown>).projection
  return inner !== undefined && projectionShapeProblems(inner).length === 0 ? inner : outer
}
