/**
 * The CLI against the real broker, in order: topics check/create, send --wait to a real worker process,
 * send --file, events, state (from the running worker over HTTP, then from its store after it stopped),
 * rebuild --dry-run (consistent, then with a changed evolve), rebuild (and what it committed to the
 * changelog). Each step is a bounded test; they share one topology and worker.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decode } from '../../src/domain/codec.ts'
import { withOutcomes } from '../../src/domain/outcome-codec.ts'
import { OFFSET_MARKER_KEY, type SnapshotRecord } from '../../src/domain/envelopes.ts'
import { KafkaTopicReader } from '../../src/kafka/topic-reader.ts'
import { spawnWorker, waitForLog, type WorkerProcess } from '../support/eos.ts'
import { kafkaBrokers, newKafka, uniqueName } from '../support/kafka.ts'
import { ROOT, runCli } from './run-cli.ts'

const name = uniqueName('cli')
const dir = mkdtempSync(path.join(tmpdir(), 'decider-cli-int-'))
const stateDir = path.join(dir, 'state')
const topology = path.join(dir, 'topology.yaml')
const topologyV2 = path.join(dir, 'topology-v2.yaml')
const yaml = (decider: string) =>
  [`name: ${name}`, `decider: ${decider}`, 'partitions: 2', 'serialization: msgpack', ''].join('\n')
writeFileSync(topology, yaml(path.join(ROOT, 'topologies/bank-account.ts')))
// Same name and topics, a decider whose evolve counts deposits twice.
writeFileSync(topologyV2, yaml(path.join(ROOT, 'test/cli/fixtures/bank-account-v2.ts')))

let env: Record<string, string>
let worker: WorkerProcess | undefined

beforeAll(() => {
  env = { KAFKA_BROKERS: kafkaBrokers().join(','), DECIDER_STATE_DIR: stateDir }
})

afterAll(async () => {
  worker?.kill('SIGKILL')
  await worker?.exited
})

describe('decider CLI on a real broker', () => {
  it('topics check reports missing topics (exit 1); topics create creates them; then check passes', async () => {
    const missing = await runCli(['topics', 'check', topology], env)
    expect(missing.code, missing.stderr).toBe(1)
    expect(missing.stderr).toContain(
      `commands topic ${name}.commands does not exist (create it: decider topics create`,
    )
    const created = await runCli(['topics', 'create', topology], env)
    expect(created.code, created.stderr).toBe(0)
    expect(created.stdout).toMatch(new RegExp(`created\\s+changelog\\s+${name}-snapshots-changelog`))
    const ok = await runCli(['topics', 'check', topology], env)
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stdout).toMatch(/topics ok/)
  }, 40_000)

  it('send --wait returns the reply from a real worker', async () => {
    worker = spawnWorker(topology, stateDir)
    await waitForLog(worker, /task running/, 2, 30_000)
    const r = await runCli(
      [
        'send',
        topology,
        '--type',
        'CreateAccount',
        '--id',
        'acc-1',
        '--payload',
        '{"owner":"Ada"}',
        '--wait',
        '--timeout',
        '20000',
      ],
      env,
    )
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({
      aggregateId: 'acc-1',
      status: 'accepted',
      version: 1,
      events: [['AccountCreated', 1]],
    })
    const refused = await runCli(
      ['send', topology, '-t', 'Withdraw', '-i', 'acc-1', '-p', '{"amount":5}', '-w'],
      env,
    )
    expect(refused.code).toBe(1)
    expect(JSON.parse(refused.stdout)).toMatchObject({
      status: 'rejected',
      error: { code: 'insufficient_funds' },
    })
  }, 40_000)

  it('send --file sends every command of an NDJSON file and counts the replies', async () => {
    const lines = ['{"aggregateId":"acc-2","type":"CreateAccount","payload":{"owner":"Bob"}}']
    for (let i = 1; i <= 10; i++)
      lines.push(
        JSON.stringify({
          aggregateId: i % 2 ? 'acc-1' : 'acc-2',
          type: 'Deposit',
          payload: { amount: 10 },
          commandId: `dep-${i}`,
        }),
      )
    lines.push(lines[1]!) // the same command again, sent while the first waits for its reply
    const file = path.join(dir, 'commands.ndjson')
    writeFileSync(file, lines.join('\n') + '\n')
    const r = await runCli(['send', topology, '--file', file, '--wait', '--timeout', '20000'], env)
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ sent: 12, replies: { accepted: 11, duplicate: 1 } })
    // Without --wait: just sent (these are duplicates of the commandIds above).
    const again = await runCli(['send', topology, '--file', file], env)
    expect(again.code, again.stderr).toBe(0)
    expect(JSON.parse(again.stdout)).toEqual({ sent: 12 })
  }, 40_000)

  it("events prints an aggregate's events in version order", async () => {
    const r = await runCli(['events', topology, 'acc-1', '--timeout', '20000'], env)
    expect(r.code, r.stderr).toBe(0)
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; version: number; aggregateId: string })
    expect(events.map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6])
    expect(events.every((e) => e.aggregateId === 'acc-1')).toBe(true)
    const none = await runCli(['events', topology, 'acc-none', '--timeout', '20000'], env)
    expect(none.code).toBe(1)
    // The running worker holds the local store: the scan answered.
    expect(r.stderr).toMatch(/local store of partition \d is in use .*scanning the events topic/)
    expect(r.stderr).toMatch(/6 event\(s\) of acc-1 from a scan of/)
  }, 40_000)

  it("events --url reads the worker's event index (a version range too); --all reads everything, resumable", async () => {
    const url = /"url":"(http:\/\/[^"]+)"/.exec(worker!.output())?.[1]
    expect(url, worker!.output().slice(-2000)).toBeDefined()
    const [all, range] = await Promise.all([
      runCli(['events', topology, 'acc-1', '--url', url!], env),
      runCli(['events', topology, 'acc-2', '--from-version', '2', '--to-version', '3'], {
        ...env,
        DECIDER_URL: url!,
      }),
    ])
    expect(all.code, all.stderr).toBe(0)
    expect(all.stderr).toContain(`6 event(s) of acc-1 from the event index of the worker at ${url}`)
    const scanned = await runCli(['events', topology, 'acc-1', '--scan', '--timeout', '20000'], env)
    expect(all.stdout).toBe(scanned.stdout)
    expect(range.code, range.stderr).toBe(0)
    expect(
      range.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { version: number }).version),
    ).toEqual([2, 3])

    const first = await runCli(['events', topology, '--all', '--timeout', '20000'], env)
    expect(first.code, first.stderr).toBe(0)
    const lines = first.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { partition: number; position: string })
    expect(lines).toHaveLength(12)
    const token = /resume with --from (\S+)/.exec(first.stderr)?.[1]
    expect(token).toBe(lines[lines.length - 1]!.position)
    const rest = await runCli(['events', topology, '--all', '--from', token!, '--timeout', '20000'], env)
    expect(rest.code, rest.stderr).toBe(0)
    expect(rest.stdout).toBe('')
    const bad = await runCli(['events', topology, '--all', '--from', 'nonsense'], env)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/position token "nonsense" is not valid/)
  }, 60_000)

  it('state asks the running worker (--url, DECIDER_URL); once it stopped, its local store has the same snapshot', async () => {
    const url = /"url":"(http:\/\/[^"]+)"/.exec(worker!.output())?.[1]
    expect(url, worker!.output().slice(-2000)).toBeDefined()
    // The task writes its store a moment after the Kafka commit the replies waited for: ask again (bounded).
    let live = await runCli(['state', topology, 'acc-1', '--url', url!], env)
    for (let i = 0; i < 10 && !live.stdout.includes('"version": 6'); i++) {
      await new Promise((r) => setTimeout(r, 200))
      live = await runCli(['state', topology, 'acc-1', '--url', url!], env)
    }
    expect(live.code, live.stderr).toBe(0)
    expect(JSON.parse(live.stdout)).toMatchObject({
      aggregateId: 'acc-1',
      version: 6,
      state: { status: 'open', owner: 'Ada', balance: 50 },
    })
    const [viaEnv, none] = await Promise.all([
      runCli(['state', topology, 'acc-2'], { ...env, DECIDER_URL: url! }),
      runCli(['state', topology, 'acc-none', '--url', url!], env),
    ])
    expect(viaEnv.code, viaEnv.stderr).toBe(0)
    expect(JSON.parse(viaEnv.stdout)).toMatchObject({
      aggregateId: 'acc-2',
      version: 6,
      state: { owner: 'Bob', balance: 50 },
    })
    expect(none.code).toBe(1)
    expect(none.stderr).toMatch(/aggregate acc-none has no committed snapshot in partition \d/)

    worker!.kill('SIGTERM')
    expect(await worker!.exited).toBe(0)
    worker = undefined
    const r = await runCli(['state', topology, 'acc-1'], env)
    expect(r.code, r.stderr).toBe(0)
    // The worker names itself as the one that answered (its advertised URL); the local store is nobody.
    const { answeredBy, ...liveSnapshot } = JSON.parse(live.stdout) as Record<string, unknown>
    expect(answeredBy).toBe(url)
    expect(JSON.parse(r.stdout)).toEqual(liveSnapshot)
  }, 60_000)

  it('rebuild --dry-run reports no difference on a consistent store', async () => {
    const r = await runCli(['rebuild', topology, '--dry-run', '--timeout', '20000'], env)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/dry run: 2 aggregate\(s\) checked, no differences; nothing written/)
  }, 40_000)

  it('rebuild --dry-run with a changed evolve reports the right differences; rebuild writes them', async () => {
    const dry = await runCli(['rebuild', topologyV2, '--dry-run', '--timeout', '20000'], env)
    expect(dry.code, dry.stderr).toBe(0)
    expect(dry.stdout).toContain(
      'acc-1: changelog version 6 {"status":"open","owner":"Ada","balance":50} -> replayed version 6 {"status":"open","owner":"Ada","balance":100}',
    )
    expect(dry.stdout).toContain(
      'acc-2: changelog version 6 {"status":"open","owner":"Bob","balance":50} -> replayed version 6 {"status":"open","owner":"Bob","balance":100}',
    )
    expect(dry.stdout).toMatch(/2 aggregate\(s\) checked, 2 difference\(s\); nothing written/)

    const real = await runCli(['rebuild', topologyV2, '--timeout', '20000'], env)
    expect(real.code, real.stderr).toBe(0)
    expect(real.stdout).toMatch(/2 difference\(s\); 2 snapshot\(s\) rewritten/)
    const [after, state] = await Promise.all([
      runCli(['rebuild', topologyV2, '--dry-run', '--timeout', '20000'], env),
      runCli(['state', topologyV2, 'acc-2'], env),
    ])
    expect(after.stdout).toMatch(/no differences/)
    expect(JSON.parse(state.stdout)).toMatchObject({ version: 6, state: { balance: 100 } })

    // The changelog, read_committed: each aggregate's rebuilt snapshot committed once, after the worker's
    // ones, with the dedupe window and source offset of the snapshot it replaced.
    const reader = new KafkaTopicReader(newKafka('cli-int-rebuild'))
    const snapshots: SnapshotRecord[] = []
    for (const p of [0, 1]) {
      await reader.readPartition(
        `${name}-snapshots-changelog`,
        p,
        (records) => {
          for (const r of records)
            if (r.key !== OFFSET_MARKER_KEY && r.value !== null)
              snapshots.push(withOutcomes(decode(r.value) as SnapshotRecord))
        },
        20_000,
      )
    }
    for (const id of ['acc-1', 'acc-2']) {
      const mine = snapshots.filter((s) => s.aggregateId === id)
      const rebuilt = mine.filter((s) => (s.state as { balance: number }).balance === 100)
      expect(rebuilt, JSON.stringify(mine)).toHaveLength(1)
      // The last two: the worker's latest snapshot, then the rebuilt one that replaces it.
      const [before, last] = mine.slice(-2)
      expect(before).toMatchObject({ version: 6, state: { balance: 50 } })
      expect(last).toEqual({ ...before, state: { ...(before!.state as object), balance: 100 } })
      expect(last!.recent.length).toBeGreaterThan(0)
      expect(last!.sourceOffset).not.toBe('-1')
    }
  }, 60_000)
})
