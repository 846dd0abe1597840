/** The CLI without a broker: help, bad usage (exit 2 with a helpful message), validate, state from a local store or a worker's HTTP endpoint. */
import { mkdtempSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { partitionOf } from '../../src/cli/partitioner.ts'
import { parseCommandsFile } from '../../src/cli/send.ts'
import { startHttp } from '../../src/http/server.ts'
import { stateQuery } from '../../src/http/state.ts'
import { createMetrics } from '../../src/metrics/metrics.ts'
import { TaskState } from '../../src/runtime/task-state.ts'
import { LevelSnapshotStore } from '../../src/state/level-store.ts'
import { ROOT, runCli } from './run-cli.ts'

const BANK = 'topologies/bank-account.yaml'
// No broker is contacted by any of these; a closed port makes an accidental connection fail fast.
const env = { KAFKA_BROKERS: '127.0.0.1:1' }

describe('decider CLI usage', () => {
  it('--help works for every command and exits 0', async () => {
    const cmds = [
      [],
      ['run'],
      ['validate'],
      ['describe'],
      ['send'],
      ['topics'],
      ['topics', 'create'],
      ['topics', 'check'],
      ['state'],
      ['events'],
      ['rebuild'],
    ]
    const results = await Promise.all(cmds.map((c) => runCli([...c, '--help'], env)))
    results.forEach((r, i) => {
      expect(r.code, `${cmds[i]!.join(' ')} --help: ${r.stderr}`).toBe(0)
      expect(r.stdout).toMatch(/Usage: decider/)
    })
    expect(results[0]!.stdout).toMatch(/topics[\s\S]*state[\s\S]*events[\s\S]*rebuild/)
  }, 60_000)

  it('bad usage exits 2 with a message that says what to do', async () => {
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['state', BANK], /missing required argument 'aggregateId'/],
      [['topics'], /Usage: decider topics/],
      [['topics', 'delete', BANK], /unknown command 'delete'/],
      [['send', BANK], /send needs --type and --id .*or --file commands.ndjson/],
      [
        ['send', BANK, '--file', 'x.ndjson', '--type', 'Deposit'],
        /--file sends the commands of a file: leave out --type/,
      ],
      [['send', BANK, '--type', 'Deposit', '--id', 'a', '--payload', '{nope'], /--payload is not valid JSON/],
      [
        ['send', BANK, '--type', 'Deposit', '--id', 'a', '--timeout', 'soon'],
        /--timeout must be a non-negative integer/,
      ],
      [
        ['send', BANK, '--file', '/nonexistent/commands.ndjson'],
        /--file \/nonexistent\/commands.ndjson: cannot read it/,
      ],
      [['events', 'nope.yaml', 'a'], /nope.yaml: cannot read the topology file/],
      [['rebuild', BANK, '--bogus'], /unknown option '--bogus'/],
    ]
    const results = await Promise.all(cases.map(([args]) => runCli(args, env)))
    results.forEach((r, i) => {
      const [args, message] = cases[i]!
      expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(2)
      expect(r.stderr + r.stdout).toMatch(message)
    })
  }, 60_000)

  it('validate accepts the samples and points at the line of an error in a broken topology file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'decider-cli-'))
    const broken = path.join(dir, 'broken.yaml')
    writeFileSync(
      broken,
      [
        'name: broken',
        `decider: ${path.join(ROOT, 'topologies/bank-account.ts')}`,
        'partitions: 3',
        'processing:',
        '  maxBatchCommand: 10',
        '',
      ].join('\n'),
    )
    const badYaml = path.join(dir, 'bad.yaml')
    writeFileSync(badYaml, ['name: bad', 'decider: ./x.ts', 'topics: [unclosed', ''].join('\n'))
    const badValue = path.join(dir, 'value.yaml')
    writeFileSync(
      badValue,
      [
        'name: value',
        `decider: ${path.join(ROOT, 'topologies/bank-account.ts')}`,
        'serialization: xml',
        '',
      ].join('\n'),
    )
    const [ok, inv, unknownKey, yaml, value] = await Promise.all([
      runCli(['validate', BANK], env),
      runCli(['validate', 'topologies/inventory.yaml'], env),
      runCli(['validate', broken], env),
      runCli(['validate', badYaml], env),
      runCli(['validate', badValue], env),
    ])
    expect(ok).toMatchObject({ code: 0 })
    expect(ok.stdout).toMatch(/ok \(topology bank-account/)
    expect(inv.code).toBe(0)
    expect(unknownKey.code).toBe(2)
    expect(unknownKey.stderr).toContain(`${broken}:5: processing: unknown key(s) "maxBatchCommand"`)
    expect(yaml.code).toBe(2)
    expect(yaml.stderr).toMatch(new RegExp(`${badYaml.replace(/[.]/g, '\\.')}:\\d+:\\d+: invalid YAML`))
    expect(value.code).toBe(2)
    expect(value.stderr).toContain(`${badValue}:3: serialization:`)
  }, 60_000)

  it('describe prints the topics and tasks', async () => {
    const r = await runCli(['describe', BANK], env)
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(
      /changelog\s+bank-account-snapshots-changelog \(6 partitions, cleanup.policy=compact/,
    )
  })

  it("state prints the committed snapshot from the LevelDB store of the aggregate's partition", async () => {
    const stateDir = mkdtempSync(path.join(tmpdir(), 'decider-state-'))
    const p = partitionOf('acc-7', 6)
    const store = await LevelSnapshotStore.open(path.join(stateDir, 'bank-account', String(p)), {
      topology: 'bank-account',
      changelogTopic: 'bank-account-snapshots-changelog',
      partition: p,
    })
    await store.write(
      [
        {
          aggregateId: 'acc-7',
          version: 2,
          state: { status: 'open', owner: 'Ada', balance: 5 },
          recent: [],
          sourceOffset: '9',
        },
      ],
      {
        changelogOffset: 5n,
        inputOffset: 9n,
      },
    )
    await store.close()
    const [found, missing, noStore] = await Promise.all([
      runCli(['state', BANK, 'acc-7'], { ...env, DECIDER_STATE_DIR: stateDir }),
      runCli(['state', BANK, 'acc-8', '--state-dir', stateDir], env),
      runCli(['state', BANK, 'acc-7', '--state-dir', path.join(stateDir, 'nothing')], env),
    ])
    expect(found.code, found.stderr).toBe(0)
    expect(JSON.parse(found.stdout)).toMatchObject({
      partition: p,
      aggregateId: 'acc-7',
      version: 2,
      state: { balance: 5 },
    })
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/acc-8: no snapshot/)
    expect(noStore.code).toBe(1)
    expect(noStore.stderr).toMatch(/no snapshot store of topology bank-account/)

    // A store held by another process (a running worker): bounded wait, then a one-line error naming the store.
    const held = await LevelSnapshotStore.open(path.join(stateDir, 'bank-account', String(p)), {
      topology: 'bank-account',
      changelogTopic: 'bank-account-snapshots-changelog',
      partition: p,
    })
    try {
      const locked = await runCli(['state', BANK, 'acc-7', '--state-dir', stateDir], env)
      expect(locked.code).toBe(1)
      expect(locked.stderr).toMatch(
        /^error: the snapshot store at .*bank-account\/\d+ is in use by another process/,
      )
      expect(locked.stderr.trim().split('\n')).toHaveLength(1)
    } finally {
      await held.close()
    }
  }, 60_000)

  it("state --url / DECIDER_URL asks a running worker's HTTP endpoint and prints its answer", async () => {
    // The worker's HTTP server and state query, over stub tasks owning partitions 0-4 of bank-account (6).
    const snapshot = {
      aggregateId: 'acc-7',
      version: 2,
      state: { status: 'open', owner: 'Ada', balance: 5 },
      recent: [],
      sourceOffset: '9',
    }
    const home = partitionOf('acc-7', 6)
    const away = ['acc-1', 'acc-2', 'acc-3', 'acc-4', 'acc-5', 'acc-6', 'acc-8', 'acc-9'].find(
      (a) => partitionOf(a, 6) !== home,
    )!
    const tasks = new Map(
      [0, 1, 2, 3, 4, 5]
        .filter((p) => p !== partitionOf(away, 6))
        .map(
          (p) =>
            [
              p,
              {
                state: TaskState.RUNNING,
                committedSnapshot: async (id: string) => (id === 'acc-7' ? snapshot : undefined),
              },
            ] as const,
        ),
    )
    const server = await startHttp({
      host: '127.0.0.1',
      port: 0,
      registry: createMetrics().registry,
      readiness: () => ({ ready: true }),
      state: stateQuery([{ definition: { name: 'bank-account', partitions: 6 } }], () => [
        { name: 'bank-account', tasks },
      ]),
    })
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    // A port nobody listens on (fetch refuses well-known ones such as 1 as "bad port").
    const spare = await startHttp({
      host: '127.0.0.1',
      port: 0,
      registry: createMetrics().registry,
      readiness: () => ({ ready: true }),
    })
    const closed = `http://127.0.0.1:${(spare.address() as AddressInfo).port}`
    await new Promise<void>((r) => spare.close(() => r()))
    try {
      const [found, viaEnv, missing, notOurs, unreachable, both, badUrl] = await Promise.all([
        runCli(['state', BANK, 'acc-7', '--url', url], env),
        runCli(['state', BANK, 'acc-7'], { ...env, DECIDER_URL: `${url}/` }),
        runCli(['state', BANK, 'acc-8', '-u', url], env),
        runCli(['state', BANK, away, '-u', url], env),
        runCli(['state', BANK, 'acc-7', '--url', closed], env),
        runCli(['state', BANK, 'acc-7', '--url', url, '--state-dir', '/tmp'], env),
        runCli(['state', BANK, 'acc-7', '--url', 'localhost:9464'], env),
      ])
      expect(found.code, found.stderr).toBe(0)
      expect(JSON.parse(found.stdout)).toEqual({ partition: home, ...snapshot })
      expect(viaEnv.code, viaEnv.stderr).toBe(0)
      expect(JSON.parse(viaEnv.stdout)).toEqual({ partition: home, ...snapshot })
      expect(missing.code).toBe(1)
      expect(missing.stderr).toMatch(
        /^error: worker http:\/\/127.0.0.1:\d+: aggregate acc-8 has no committed snapshot in partition \d of topology bank-account\n$/,
      )
      expect(notOurs.code).toBe(1)
      expect(notOurs.stderr).toContain(
        `partition ${partitionOf(away, 6)} of topology bank-account is not assigned to this worker`,
      )
      expect(unreachable.code).toBe(1)
      expect(unreachable.stderr).toMatch(
        /^error: cannot reach the worker at http:\/\/127.0.0.1:\d+: connect ECONNREFUSED .*\n$/,
      )
      expect(both.code).toBe(2)
      expect(both.stderr).toContain(
        '--url asks a running worker, --state-dir reads a local store: give one of them',
      )
      expect(badUrl.code).toBe(2)
      expect(badUrl.stderr).toMatch(/--url \/ DECIDER_URL must be an http\(s\) address/)
    } finally {
      await new Promise<void>((r) => server.close(() => r()))
    }
  }, 60_000)

  it('state --url asks again while the worker answers 503 with a retry hint (the group rebalancing), until --timeout', async () => {
    let refusals = 2
    const server = await startHttp({
      host: '127.0.0.1',
      port: 0,
      registry: createMetrics().registry,
      readiness: () => ({ ready: true }),
      state: async (_t, id) =>
        refusals-- > 0
          ? { status: 503, body: { error: 'rebalancing; try again', code: 'rebalancing', retryAfterMs: 100 } }
          : { status: 200, body: { partition: 1, aggregateId: id, version: 1 } },
    })
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const settled = await runCli(['state', BANK, 'acc-7', '--url', url], env)
      expect(settled.code, settled.stderr).toBe(0)
      expect(JSON.parse(settled.stdout)).toEqual({ partition: 1, aggregateId: 'acc-7', version: 1 })
      expect(refusals).toBe(-1) // asked three times
      refusals = 1000
      const started = Date.now()
      const gaveUp = await runCli(['state', BANK, 'acc-7', '--url', url, '--timeout', '1500'], env)
      expect(gaveUp.code).toBe(1)
      expect(gaveUp.stderr).toMatch(/^error: worker http:\/\/127.0.0.1:\d+: rebalancing; try again\n$/)
      expect(Date.now() - started).toBeLessThan(15_000)
      expect(1000 - refusals).toBeGreaterThan(3)
    } finally {
      await new Promise<void>((r) => server.close(() => r()))
    }
  }, 60_000)

  it('send --file: NDJSON errors name the line', () => {
    expect(
      parseCommandsFile(
        '{"aggregateId":"a","type":"Deposit","payload":{"amount":1}}\n\n# comment\n{"aggregateId":"b","type":"X","commandId":"c2"}\n',
        'f',
      ),
    ).toEqual([
      expect.objectContaining({ aggregateId: 'a', type: 'Deposit', payload: { amount: 1 } }),
      { aggregateId: 'b', type: 'X', payload: {}, commandId: 'c2' },
    ])
    expect(() => parseCommandsFile('{"aggregateId":"a","type":"T"}\n{"type":"T"}\n', 'f.ndjson')).toThrow(
      'f.ndjson:2: "aggregateId" (a non-empty string) is missing',
    )
    expect(() => parseCommandsFile('{oops\n', 'f.ndjson')).toThrow(/^f.ndjson:1: not valid JSON/)
    expect(() => parseCommandsFile('{"aggregateId":"a","type":"T","expectedVersion":-1}', 'f')).toThrow(
      'f:1: "expectedVersion" must be a non-negative integer',
    )
  })

  it("partitionOf matches kafkajs' default partitioner (murmur2, as the CommandClient routes)", () => {
    expect([partitionOf('acc-1', 6), partitionOf('acc-2', 6)]).toEqual([3, 2])
  })
})
