/**
 * Writes the JSON Schemas of the topology files from their zod schemas: topologies/topology.schema.json (decider
 * topologies, src/topology/schema.ts) and topologies/projection.schema.json (`kind: projection` files,
 * src/topology/projection-schema.ts). The sample YAML files reference them (`# yaml-language-server:
 * $schema=...`), so editors complete and check keys. `npm run schema:generate`; test/topologies/schema.test.ts
 * fails when a committed file is stale.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { projectionTopologySchema } from '../src/topology/projection-schema.ts'
import { topologySchema } from '../src/topology/schema.ts'

const topologiesDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'topologies')

export const SCHEMA_FILE = path.join(topologiesDir, 'topology.schema.json')
export const PROJECTION_SCHEMA_FILE = path.join(topologiesDir, 'projection.schema.json')

function jsonSchema(schema: z.ZodType, title: string, description: string): string {
  // io: 'input': what a file may contain (fields with defaults are optional).
  const s = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>
  const out = {
    $schema: s.$schema,
    title,
    description,
    ...Object.fromEntries(Object.entries(s).filter(([k]) => k !== '$schema')),
  }
  return JSON.stringify(out, null, 2) + '\n'
}

export function topologyJsonSchema(): string {
  return jsonSchema(
    topologySchema,
    'kafka-decider topology',
    'A kafka-decider topology file: wiring only (name, decider module, topics, partitions, serialization, processing, errors, dedupe).',
  )
}

export function projectionJsonSchema(): string {
  return jsonSchema(
    projectionTopologySchema,
    'kafka-decider projection',
    'A kafka-decider projection file (kind: projection): wiring only (name, projector module, sources, topics, partitions, serialization, processing, errors).',
  )
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const [file, text] of [
    [SCHEMA_FILE, topologyJsonSchema()],
    [PROJECTION_SCHEMA_FILE, projectionJsonSchema()],
  ] as const) {
    writeFileSync(file, text)
    console.log(`wrote ${path.relative(process.cwd(), file)}`)
  }
}
