/**
 * Writes topologies/topology.schema.json, the JSON Schema of topology files, from the zod schema
 * (src/topology/schema.ts). The sample YAML files reference it (`# yaml-language-server: $schema=...`), so
 * editors complete and check keys. `npm run schema:generate`; test/topologies/schema.test.ts fails when
 * the committed file is stale.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { topologySchema } from '../src/topology/schema.ts'

export const SCHEMA_FILE = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'topologies',
  'topology.schema.json',
)

export function topologyJsonSchema(): string {
  // io: 'input': what a file may contain (fields with defaults are optional).
  const schema = z.toJSONSchema(topologySchema, { io: 'input', target: 'draft-2020-12' }) as Record<
    string,
    unknown
  >
  const out = {
    $schema: schema.$schema,
    title: 'kafka-decider topology',
    description:
      'A kafka-decider topology file: wiring only (name, decider module, topics, partitions, serialization, processing, errors, dedupe).',
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
  }
  return JSON.stringify(out, null, 2) + '\n'
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(SCHEMA_FILE, topologyJsonSchema())
  console.log(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}`)
}
