/**
 * Commands produced inside Kafka transactions by other services, on the real broker with a real worker in process:
 * several transactional producers interleave on one commands partition (aborted transactions overlapping each
 * other, committed ones after their markers, a non-transactional command, a transaction left open and committed
 * later). Every committed command must be answered exactly once, no aborted one ever, and nothing of an open
 * transaction before its commit.
 *
 * The steps wait for each write (and each marker, which the coordinator writes after EndTxn returns) to land, so
 * the offsets below are exact. The two pauses let a read_committed consumer fetch up to the last stable offset
 * and so start its next fetch inside aborted transactions that overlap it. With kafkajs' filter
 * (readUncommitted: false) the worker then answered b-aborted-1 (the fetch from 1 met the entries A, B and
 * shifted A's for B's record), a-aborted-4 and b-aborted-5 (the broker lists aborted transactions in the order
 * they ended, C B A, and kafkajs expects them by first offset).
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import pino from 'pino'
import type { Consumer, Producer, Transaction } from 'kafkajs'
import { resolveWorkerConfig } from '../../src/config/worker-config.ts'
import { loadTopology, type Topology } from '../../src/topology/loader.ts'
import { Worker } from '../../src/worker/worker.ts'
import { kafkaBrokers, newKafka } from '../support/kafka.ts'
import { encodeCommand, readTopic, tempDir } from '../support/eos.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function startWorker(t: Topology, stateDir: string): Promise<Worker> {
  const w = new Worker({
    topologies: [t],
    config: resolveWorkerConfig(
      { kafka: { brokers: kafkaBrokers() }, stateDir, http: { enabled: false }, log: { level: 'silent' } },
      {},
    ),
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  })
  await w.start()
  const deadline = Date.now() + 60_000
  while (!w.isReady()) {
    if (Date.now() > deadline) throw new Error('worker not ready within 60 s')
    await sleep(100)
  }
  return w
}

describe('commands written in transactions by other producers (real broker, worker in process)', () => {
  let worker: Worker | undefined
  const producers: Producer[] = []
  const consumers: Consumer[] = []
  afterAll(async () => {
    for (const p of producers) await p.disconnect().catch(() => undefined)
    for (const c of consumers) await c.disconnect().catch(() => undefined)
    await worker?.stop()
  })

  it('answers every committed command exactly once, no aborted one, and an open transaction only once committed', async () => {
    const dir = tempDir('input-txn')
    const name = `input-txn-${Date.now()}`
    const file = path.join(dir, `${name}.yaml`)
    writeFileSync(
      file,
      `name: ${name}\ndecider: ${path.join(ROOT, 'topologies/bank-account.ts')}\npartitions: 1\n`,
    )
    const topology = await loadTopology(file)
    const topic = topology.topics.commands
    worker = await startWorker(topology, `${dir}/state`)

    const kafka = newKafka('input-txn')
    const producer = async (id: string, transactional = true) => {
      const p = kafka.producer(
        transactional
          ? { transactionalId: `${name}-${id}`, idempotent: true, maxInFlightRequests: 1 }
          : { idempotent: true, maxInFlightRequests: 1 },
      )
      producers.push(p)
      await p.connect()
      return p
    }
    const [A, B, C, X, plain] = [
      await producer('a'),
      await producer('b'),
      await producer('c'),
      await producer('x'),
      await producer('plain', false),
    ]
    const message = (commandId: string) => ({
      partition: 0,
      ...encodeCommand({
        aggregateId: `acc-${commandId}`,
        commandId,
        type: 'CreateAccount',
        payload: { owner: commandId },
      }),
    })
    // The partition's end offset, markers included (the admin's ListOffsets is read_committed: it gives the
    // last stable offset): a read_uncommitted consumer of its own group sees every batch, markers alone too.
    let endOffset = 0
    const watcher = kafka.consumer({ groupId: `${name}-watch`, readUncommitted: true, maxWaitTimeInMs: 50 })
    consumers.push(watcher)
    watcher.on(watcher.events.END_BATCH_PROCESS, (e) => {
      endOffset = Math.max(endOffset, Number(e.payload.lastOffset) + 1)
    })
    await watcher.connect()
    await watcher.subscribe({ topic, fromBeginning: true })
    await watcher.run({ eachBatch: async () => undefined })
    /** Waits (bounded) until the partition's end offset is `n`: the previous write or marker has landed. */
    const at = async (n: number) => {
      for (let i = 0; i < 200 && endOffset < n; i++) await sleep(25)
      expect(endOffset, `end offset of ${topic}`).toBe(n)
    }
    let offset = 0
    const send = async (t: Transaction | Producer, commandId: string) => {
      await t.send({ topic, messages: [message(commandId)] })
      await at(++offset)
    }
    const end = async (t: Transaction, how: 'commit' | 'abort') => {
      await t[how]()
      await at(++offset)
    }

    // Two aborted transactions, A's marker first: a read_committed consumer fetches offset 0 alone (B is open).
    let ta = await A.transaction()
    await send(ta, 'a-aborted-0') // 0
    let tb = await B.transaction()
    await send(tb, 'b-aborted-1') // 1
    await end(ta, 'abort') // 2
    await sleep(1500)
    await end(tb, 'abort') // 3

    // Three aborted transactions (markers C, B, A), X left open: read_committed fetches up to X and stops there.
    ta = await A.transaction()
    await send(ta, 'a-aborted-4') // 4
    tb = await B.transaction()
    await send(tb, 'b-aborted-5') // 5
    let tc = await C.transaction()
    await send(tc, 'c-aborted-6') // 6
    const tx = await X.transaction()
    await send(tx, 'x-committed-7') // 7
    await end(tc, 'abort') // 8
    await end(tb, 'abort') // 9
    await end(ta, 'abort') // 10
    await sleep(1500)
    // Committed transactions of C, A and B after those markers, and a command written without a transaction.
    tc = await C.transaction()
    await send(tc, 'c-committed-11') // 11
    await send(plain, 'p-plain-12') // 12
    ta = await A.transaction()
    await send(ta, 'a-committed-13') // 13
    tb = await B.transaction()
    await send(tb, 'b-committed-14') // 14
    await end(tc, 'commit') // 15
    await end(ta, 'commit') // 16
    await end(tb, 'commit') // 17
    await end(tx, 'commit') // 18

    const committed = ['x-committed-7', 'c-committed-11', 'p-plain-12', 'a-committed-13', 'b-committed-14']
    const replies = async () =>
      (await readTopic(kafka, topology.topics.replies)).map(
        (r) => (r.value as { commandId: string }).commandId,
      )
    const waitFor = async (n: number) => {
      let ids: string[] = []
      for (let i = 0; i < 60 && ids.length < n; i++) {
        ids = await replies()
        if (ids.length < n) await sleep(500)
      }
      return ids
    }
    expect((await waitFor(committed.length)).sort()).toEqual([...committed].sort())

    // A transaction still open at the end: nothing of it is processed until its commit.
    const ty = await A.transaction()
    await send(ty, 'y-late-19') // 19
    await sleep(2000)
    expect((await replies()).sort()).toEqual([...committed].sort())
    await end(ty, 'commit') // 20
    const all = [...committed, 'y-late-19']
    await waitFor(all.length)
    await sleep(1500) // any second answer would show up now
    const ids = await replies()
    expect(ids.sort()).toEqual([...all].sort())
    expect(new Set(ids).size).toBe(ids.length)
  }, 120_000)
})
