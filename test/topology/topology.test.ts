import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/errors.ts'
import { fromDecider, loadTopology, parseTopology, readTopologyFile } from '../../src/topology/loader.ts'
import { topicNames } from '../../src/topology/schema.ts'
import bank from '../../topologies/bank-account.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const errorOf = (fn: () => unknown): ConfigError => {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError)
    return e as ConfigError
  }
  throw new Error('expected a ConfigError')
}

describe('parseTopology', () => {
  it('fills defaults', () => {
    const t = parseTopology('name: bank\ndecider: ./bank.ts\n')
    expect(t).toMatchObject({
      name: 'bank',
      partitions: 6,
      serialization: 'msgpack',
      topics: {},
      processing: {
        maxBatchCommands: 1000,
        maxBytesPerPartition: 1_048_576,
        transactionTimeoutMs: 10_000,
        snapshotCacheSize: 100_000,
      },
      errors: { onDecideError: 'fail-command' },
      dedupe: { perAggregate: 32, outcomes: 'compact' },
    })
    // a partial nested object still gets the other defaults
    expect(
      parseTopology('name: bank\ndecider: ./bank.ts\nprocessing:\n  maxBatchCommands: 5\n').processing,
    ).toEqual({
      maxBatchCommands: 5,
      maxBytesPerPartition: 1_048_576,
      fetchMinBytes: 1,
      fetchMaxWaitMs: 100,
      commitIntervalMs: 20,
      offsetCommitIntervalMs: 1000,
      transactionTimeoutMs: 10_000,
      snapshotCacheSize: 100_000,
      snapshotCacheBytes: 67_108_864,
      maxRecordBytes: 1_000_000,
      maxRequestBytes: 900_000,
      standbyReplicas: 0,
    })
  })

  it('a wrong type names file:line and the path', () => {
    const e = errorOf(() => parseTopology('name: bank\ndecider: ./b.ts\npartitions: "six"\n', 'bank.yaml'))
    expect(e.message).toContain('bank.yaml:3:')
    expect(e.message).toContain('partitions')
    expect(e.message).toMatch(/expected number/)
  })

  it('nested errors name the dotted path and its line', () => {
    const e = errorOf(() =>
      parseTopology('name: bank\ndecider: ./b.ts\nprocessing:\n  maxBatchCommands: 0\n', 'bank.yaml'),
    )
    expect(e.message).toContain('bank.yaml:4: processing.maxBatchCommands')
    const t = errorOf(() =>
      parseTopology('name: bank\ndecider: ./b.ts\ntopics:\n  commands: "bad topic"\n', 'bank.yaml'),
    )
    expect(t.message).toContain('bank.yaml:4: topics.commands: a Kafka topic name')
  })

  it('unknown keys are reported with a hint', () => {
    const e = errorOf(() => parseTopology('name: bank\ndecider: ./b.ts\nfoo: 1\n', 'bank.yaml'))
    expect(e.message).toContain('unknown key(s) "foo"')
    const n = errorOf(() =>
      parseTopology(
        'name: bank\ndecider: ./b.ts\nprocessing:\n  maxBatchCommands: 5\n  maxBatch: 5\n',
        'bank.yaml',
      ),
    )
    expect(n.message).toContain('processing: unknown key(s) "maxBatch"')
  })

  // BUG: unknown keys are reported at the line of the enclosing map (line 1 for top-level keys), not the line of the key.
  it('unknown keys name the line of the unknown key', () => {
    expect(
      errorOf(() => parseTopology('name: bank\ndecider: ./b.ts\nfoo: 1\n', 'bank.yaml')).message,
    ).toContain('bank.yaml:3:')
    expect(
      errorOf(() =>
        parseTopology(
          'name: bank\ndecider: ./b.ts\nprocessing:\n  maxBatchCommands: 5\n  maxBatch: 5\n',
          'bank.yaml',
        ),
      ).message,
    ).toContain('bank.yaml:5:')
  })

  it('every issue is listed, a bad name explains what is allowed', () => {
    const e = errorOf(() => parseTopology('name: Bank!\n', 'x.yaml'))
    expect(e.message).toContain('x.yaml:1: name: lowercase letters')
    expect(e.message).toContain('decider:')
  })

  it('invalid YAML names file:line:col', () => {
    expect(errorOf(() => parseTopology('name: bank\ndecider: [unclosed\n', 'x.yaml')).message).toMatch(
      /^x\.yaml:\d+:\d+: invalid YAML/,
    )
  })

  it('a document that is not a mapping is rejected', () => {
    expect(errorOf(() => parseTopology('- a\n- b\n', 'x.yaml')).message).toContain('expected object')
    expect(errorOf(() => parseTopology('', 'x.yaml')).message).toContain('x.yaml')
  })
})

describe('topic names', () => {
  it('default from the name', () => {
    expect(topicNames({ name: 'shop', topics: {} })).toEqual({
      commands: 'shop.commands',
      events: 'shop.events',
      changelog: 'shop-snapshots-changelog',
      replies: 'shop.replies',
      deadLetters: 'shop.dlq',
    })
  })
  it('can be overridden one by one', () => {
    expect(
      topicNames({ name: 'shop', topics: { events: 'shop-events-v2', deadLetters: 'dead' } }),
    ).toMatchObject({
      commands: 'shop.commands',
      events: 'shop-events-v2',
      deadLetters: 'dead',
    })
  })
})

describe('loadTopology', () => {
  it('loads topologies/bank-account.yaml with its decider', async () => {
    const t = await loadTopology(path.join(ROOT, 'topologies/bank-account.yaml'))
    expect(t.definition.name).toBe('bank-account')
    expect(t.applicationId).toBe('bank-account')
    expect(t.topics.commands).toBe('bank-account.commands')
    expect(t.decider.kind).toBe('kafka-decider/decider')
    expect(Object.keys(t.decider.commands)).toEqual([
      'CreateAccount',
      'Deposit',
      'Withdraw',
      'CorrectDeposit',
    ])
  })

  it('loads topologies/inventory.yaml (JSON serialization)', async () => {
    const t = await loadTopology(path.join(ROOT, 'topologies/inventory.yaml'))
    expect(t.definition.serialization).toBe('json')
    expect(Object.keys(t.decider.events)).toContain('StockDepleted')
  })

  it('a missing file or module, or a module that is not a decider, is a ConfigError naming it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kd-topology-'))
    await expect(readTopologyFile(path.join(dir, 'nope.yaml'))).rejects.toThrow(/nope\.yaml: cannot read/)
    writeFileSync(path.join(dir, 'missing.yaml'), 'name: m\ndecider: ./missing.ts\n')
    await expect(loadTopology(path.join(dir, 'missing.yaml'))).rejects.toThrow(
      /cannot load decider module .*missing\.ts/,
    )
    writeFileSync(path.join(dir, 'notdecider.ts'), 'export default { decide: 1 }\n')
    writeFileSync(path.join(dir, 'bad.yaml'), 'name: m\ndecider: ./notdecider.ts\n')
    const err = await loadTopology(path.join(dir, 'bad.yaml')).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toContain('not a decider')
    expect((err as Error).message).toContain('"initialState" must be a function')
  })

  it('fromDecider validates and defaults like a file', () => {
    const t = fromDecider(bank as never, { name: 'in-code', partitions: 3 })
    expect(t.definition.partitions).toBe(3)
    expect(t.topics.replies).toBe('in-code.replies')
    expect(() => fromDecider(bank as never, { name: 'Bad Name' })).toThrow()
  })

  it('fromDecider accepts a typed decider without a cast (public API)', () => {
    // Type-level check: tsc fails here if AnyDecider stops accepting a defineDecider result.
    const t = fromDecider(bank, { name: 'typed' })
    expect(t.decider).toBe(bank)
  })
})
