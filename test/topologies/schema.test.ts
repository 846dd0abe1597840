import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  PROJECTION_SCHEMA_FILE,
  projectionJsonSchema,
  SCHEMA_FILE,
  topologyJsonSchema,
} from '../../scripts/generate-schema.ts'

describe('topologies/topology.schema.json', () => {
  it('is the JSON Schema generated from the zod topology schema (run `npm run schema:generate` when this fails)', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(topologyJsonSchema())
  })

  it('describes the topology keys, required ones and no others', () => {
    const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as {
      required: string[]
      additionalProperties: boolean
      properties: Record<string, unknown>
    }
    expect(schema.required.sort()).toEqual(['decider', 'name'])
    expect(schema.additionalProperties).toBe(false)
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['topics', 'partitions', 'serialization', 'processing', 'errors', 'dedupe']),
    )
  })

  it('is referenced by the sample topology files', () => {
    for (const f of ['topologies/bank-account.yaml', 'topologies/inventory.yaml']) {
      expect(readFileSync(f, 'utf8').split('\n')[0]).toBe(
        '# yaml-language-server: $schema=./topology.schema.json',
      )
    }
  })
})

describe('topologies/projection.schema.json', () => {
  it('is the JSON Schema generated from the zod projection schema (run `npm run schema:generate` when this fails)', () => {
    expect(readFileSync(PROJECTION_SCHEMA_FILE, 'utf8')).toBe(projectionJsonSchema())
  })

  it('describes the projection keys, required ones and no others', () => {
    const schema = JSON.parse(readFileSync(PROJECTION_SCHEMA_FILE, 'utf8')) as {
      required: string[]
      additionalProperties: boolean
      properties: Record<string, unknown>
    }
    expect(schema.required.sort()).toEqual(['kind', 'name', 'projection', 'sources'])
    expect(schema.additionalProperties).toBe(false)
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['topics', 'partitions', 'serialization', 'processing', 'errors']),
    )
  })

  it('is referenced by the sample projection files', () => {
    for (const f of [
      'topologies/bank-daily-totals.yaml',
      'topologies/bank-account-summary.yaml',
      'topologies/inventory-stock.yaml',
    ]) {
      expect(readFileSync(f, 'utf8').split('\n')[0]).toBe(
        '# yaml-language-server: $schema=./projection.schema.json',
      )
    }
  })
})
