/**
 * The worker against the real broker, in process: happy path, every bad-input class, duplicates and
 * conflicts, and a clean restart that replays ~0 changelog records.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pino from 'pino'
import { Packr } from 'msgpackr'
import { resolveWorkerConfig } from '../../src/config/worker-config.ts'
import { loadTopology, type Topology } from '../../src/topology/loader.ts'
import { Worker } from '../../src/worker/worker.ts'
import { newKafka, kafkaBrokers } from '../support/kafka.ts'
import {
  bankWorkload,
  readTopic,
  sendCommands,
  tempDir,
  verifyBankRun,
  waitForReplies,
  writeBankTopology,
  type Cmd,
} from '../support/eos.ts'

const packr = new Packr({ useRecords: false })
const kafka = () => newKafka('worker-int')

function config(stateDir: string) {
  return resolveWorkerConfig(
    { kafka: { brokers: kafkaBrokers() }, stateDir, http: { enabled: false }, log: { level: 'silent' } },
    {},
  )
}

async function startWorker(t: Topology, stateDir: string): Promise<Worker> {
  const w = new Worker({
    topologies: [t],
    config: config(stateDir),
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  })
  await w.start()
  const deadline = Date.now() + 60_000
  while (!w.isReady()) {
    if (Date.now() > deadline) throw new Error('worker not ready within 60 s')
    await new Promise((r) => setTimeout(r, 100))
  }
  return w
}

describe('worker (in process, real broker)', () => {
  const dir = tempDir('worker')
  const stateDir = `${dir}/state`
  let topology: Topology
  let worker: Worker | undefined
  const sent: Cmd[] = []

  beforeAll(async () => {
    topology = await loadTopology(writeBankTopology(dir, `bank-${Date.now()}`))
    worker = await startWorker(topology, stateDir)
  })
  afterAll(async () => {
    await worker?.stop()
  })

  it('processes commands for many aggregates across 6 partitions exactly once', async () => {
    const cmds = bankWorkload(1, 60, 600)
    sent.push(...cmds)
    await sendCommands(kafka(), topology.topics.commands, cmds)
    await waitForReplies(kafka(), topology.topics.replies, sent.length, 60_000)
    const v = await verifyBankRun(kafka(), topology.topics, sent)
    expect(v.problems).toEqual([])
    expect(v.replies).toBe(sent.length + v.producerDuplicates)
    const partitions = new Set((await readTopic(kafka(), topology.topics.events)).map((e) => e.partition))
    expect(partitions.size).toBe(6)
    // The local store holds the same snapshot as the changelog.
    const task = [...worker!.runners[0]!.tasks.values()][0]!
    const anyEvent = (await readTopic(kafka(), topology.topics.events)).find(
      (e) => e.partition === task.partition,
    )!
    const snap = await task.committedSnapshot(anyEvent.key!)
    expect(snap?.aggregateId).toBe(anyEvent.key)
  })

  it('answers every bad input class and goes on processing the partition', async () => {
    const k = kafka()
    const producer = k.producer()
    await producer.connect()
    const key = 'acc-bad-1'
    const env = (o: object) => packr.pack(o)
    await producer.send({
      topic: topology.topics.commands,
      messages: [
        { key, value: Buffer.from([0xc1, 0xff, 0x00]) }, // undecodable (0xc1 is never valid msgpack)
        { key, value: null }, // no value
        { key: null, value: env({ commandId: 'bad-nokey', type: 'Deposit', payload: { amount: 1 } }) },
        { key, value: env({ commandId: 'bad-type', type: 'Teleport', payload: {} }) },
        { key, value: env({ commandId: 'bad-payload', type: 'Deposit', payload: { amount: 'ten' } }) },
        { key, value: env({ type: 'Deposit', payload: { amount: 1 } }) }, // no commandId
        {
          key,
          value: Buffer.from('{"commandId":"bad-json","type":"Deposit","payload":{"amount":-5}}'),
          headers: { 'content-type': 'application/json' },
        },
        {
          key,
          value: env({ commandId: 'good-after-bad', type: 'CreateAccount', payload: { owner: 'Bob' } }),
        },
      ],
    })
    await producer.disconnect()
    const replies = await waitForReplies(k, topology.topics.replies, sent.length + 5, 60_000)
    const byId = new Map(
      replies.map((r) => [
        (r.value as { commandId: string }).commandId,
        r.value as { status: string; error?: { code: string } },
      ]),
    )
    expect(byId.get('bad-nokey')).toMatchObject({ status: 'invalid', error: { code: 'missing_key' } })
    expect(byId.get('bad-type')).toMatchObject({ status: 'invalid', error: { code: 'unknown_type' } })
    expect(byId.get('bad-payload')).toMatchObject({ status: 'invalid', error: { code: 'invalid_payload' } })
    expect(byId.get('bad-json')).toMatchObject({ status: 'invalid', error: { code: 'invalid_payload' } })
    expect(byId.get('good-after-bad')).toMatchObject({ status: 'accepted' })
    const dlq = await readTopic(k, topology.topics.deadLetters, { raw: true })
    const reasons = dlq.map((r) => r.headers['kd-error-code']).sort()
    expect(reasons).toEqual([
      'invalid_envelope',
      'invalid_payload',
      'invalid_payload',
      'missing_key',
      'undecodable',
      'undecodable',
      'unknown_type',
    ])
    const undecodable = dlq.find(
      (r) => r.value && Buffer.compare(r.value as Buffer, Buffer.from([0xc1, 0xff, 0x00])) === 0,
    )
    expect(undecodable?.headers['kd-source-topic']).toBe(topology.topics.commands)
  })

  it('answers a re-sent commandId with duplicate and a stale expectedVersion with conflict, without new events', async () => {
    const k = kafka()
    const cmds: Cmd[] = [
      { aggregateId: 'acc-dup', commandId: 'dup-create', type: 'CreateAccount', payload: { owner: 'Cy' } },
      {
        aggregateId: 'acc-dup',
        commandId: 'dup-dep',
        type: 'Deposit',
        payload: { amount: 10 },
        expectedVersion: 1,
      },
    ]
    await sendCommands(k, topology.topics.commands, cmds)
    await waitForReplies(k, topology.topics.replies, sent.length + 5 + 2, 60_000)
    const again: Cmd[] = [
      {
        aggregateId: 'acc-dup',
        commandId: 'dup-dep',
        type: 'Deposit',
        payload: { amount: 10 },
        expectedVersion: 1,
      },
      {
        aggregateId: 'acc-dup',
        commandId: 'stale',
        type: 'Deposit',
        payload: { amount: 10 },
        expectedVersion: 1,
      },
    ]
    await sendCommands(k, topology.topics.commands, again)
    const replies = await waitForReplies(k, topology.topics.replies, sent.length + 5 + 4, 60_000)
    const mine = replies
      .map((r) => r.value as { commandId: string; status: string; originalStatus?: string; version: number })
      .filter((r) => ['dup-dep', 'stale'].includes(r.commandId))
    // Replies of one commandId share a partition (keyed by commandId), so they are in order; across ids, no order.
    expect(mine.filter((r) => r.commandId === 'dup-dep')).toEqual([
      expect.objectContaining({ status: 'accepted', version: 2 }),
      expect.objectContaining({ status: 'duplicate', originalStatus: 'accepted', version: 2 }),
    ])
    expect(mine.filter((r) => r.commandId === 'stale')).toEqual([
      expect.objectContaining({ status: 'conflict', version: 2 }),
    ])
    const events = (await readTopic(k, topology.topics.events)).filter((e) => e.key === 'acc-dup')
    expect(events.map((e) => (e.value as { version: number }).version)).toEqual([1, 2])
  })

  it('resumes after a clean restart without re-processing and without a full restore', async () => {
    const k = kafka()
    const before = (await readTopic(k, topology.topics.replies)).length
    await worker!.stop()
    worker = await startWorker(topology, stateDir)
    const restored = [...worker.runners[0]!.tasks.values()].map((t) => t.lastRestoreRecords)
    expect(restored.length).toBe(6)
    expect(restored.reduce((a, b) => a + b, 0)).toBe(0)
    const more = bankWorkload(2, 20, 200)
    await sendCommands(k, topology.topics.commands, more)
    const replies = await waitForReplies(k, topology.topics.replies, before + more.length, 60_000)
    await new Promise((r) => setTimeout(r, 1500)) // any re-processing would show up as extra replies
    expect((await readTopic(k, topology.topics.replies)).length).toBe(before + more.length)
    expect(replies.length).toBe(before + more.length)
    const v = await verifyBankRun(k, topology.topics, [...sent, ...more])
    expect(v.problems).toEqual([])
  })
})
