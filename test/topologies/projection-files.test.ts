/** The sample projection files load (loadProjection: schema, projector module, source topologies) and validate. */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { isProjectionText, loadProjection, parseProjection } from '../../src/topology/projection-loader.ts'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

const samples = [
  {
    file: 'bank-daily-totals.yaml',
    name: 'bank-daily-totals',
    source: 'bank-account',
    serialization: 'msgpack',
  },
  {
    file: 'bank-account-summary.yaml',
    name: 'bank-account-summary',
    source: 'bank-account',
    serialization: 'msgpack',
  },
  { file: 'inventory-stock.yaml', name: 'inventory-stock', source: 'inventory', serialization: 'json' },
] as const

describe('sample projection files', () => {
  it.each(samples)('$file loads with loadProjection and validates', async (s) => {
    const file = path.join(ROOT, 'topologies', s.file)
    const text = readFileSync(file, 'utf8')
    expect(isProjectionText(text)).toBe(true)
    expect(() => parseProjection(text, file)).not.toThrow()

    const p = await loadProjection(file)
    expect(p.kind).toBe('projection')
    expect(p.applicationId).toBe(s.name)
    expect(p.definition).toMatchObject({
      kind: 'projection',
      name: s.name,
      partitions: 6,
      serialization: s.serialization,
    })
    expect(p.definition.errors.onProjectError).toBe('dead-letter')
    expect(p.topics).toEqual({
      repartition: `${s.name}.repartition`,
      changelog: `${s.name}-views-changelog`,
      deadLetters: `${s.name}.dlq`,
    })
    // The source is the decider topology's events topic, with its decider (events are upcast by it).
    expect(p.sources).toHaveLength(1)
    expect(p.sources[0]!.topic).toBe(`${s.source}.events`)
    expect(p.sources[0]!.topology?.definition.name).toBe(s.source)
    expect(p.sources[0]!.topology?.decider.kind).toBe('kafka-decider/decider')
    expect(p.projection.kind).toBe('kafka-decider/projection')
    expect(p.projection.version).toBe(1)
    // A projection's groups and state folder must not be its source topology's.
    expect(p.applicationId).not.toBe(s.source)
  })

  it('an unknown key in a sample is refused with its path', () => {
    const text = readFileSync(path.join(ROOT, 'topologies/bank-daily-totals.yaml'), 'utf8')
    expect(() => parseProjection(`${text}processing:\n  maxBatchCommands: 10\n`, 'x.yaml')).toThrow(
      /x\.yaml: processing: unknown key\(s\) "maxBatchCommands"/,
    )
  })
})
