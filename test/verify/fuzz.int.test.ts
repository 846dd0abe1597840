/**
 * Fuzzing the command topic at volume against a worker process: random bytes, truncated and bit-flipped
 * msgpack, wrong types, huge strings, deep nesting, lying content-type headers, missing keys. Every record
 * must be answered (a reply for its key) or dead-lettered (found by its source offset), and the worker must
 * still be running afterwards.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { Packr } from 'msgpackr'
import { loadTopology } from '../../src/topology/loader.ts'
import { newKafka } from '../support/kafka.ts'
import {
  readTopic,
  spawnWorker,
  tempDir,
  waitForLog,
  writeBankTopology,
  type WorkerProcess,
} from '../support/eos.ts'

const packr = new Packr({ useRecords: false })

function fuzzRecords(
  seed: number,
  n: number,
): { key: string | null; value: Buffer | null; headers?: Record<string, string> }[] {
  let s = seed >>> 0
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 2 ** 32)
  const int = (k: number) => Math.floor(rnd() * k)
  const valid = (i: number) =>
    packr.pack({ commandId: `fz-c-${i}`, type: 'Deposit', payload: { amount: 1 + int(50) } })
  const out: { key: string | null; value: Buffer | null; headers?: Record<string, string> }[] = []
  for (let i = 0; i < n; i++) {
    const key = `fz-${seed}-${i}`
    switch (i % 10) {
      case 0:
        out.push({ key, value: Buffer.from(Array.from({ length: int(200) }, () => int(256))) })
        break
      case 1: {
        const v = valid(i)
        out.push({ key, value: v.subarray(0, 1 + int(v.length - 1)) }) // truncated msgpack
        break
      }
      case 2: {
        const v = Buffer.from(valid(i))
        v[int(v.length)]! ^= 1 << int(8) // one flipped bit
        out.push({ key, value: v })
        break
      }
      case 3:
        out.push({
          key,
          value: packr.pack({
            commandId: `fz-c-${i}`,
            type: 'Withdraw',
            payload: [{ amount: 'lots' }, null, 3],
          }),
        })
        break
      case 4:
        out.push({
          key,
          value: packr.pack({
            commandId: 'x'.repeat(100_000),
            type: 'y'.repeat(50_000),
            payload: 'z'.repeat(200_000),
          }),
        })
        break
      case 5: // 20,000 nested arrays: a naive recursive decoder overflows its stack
        out.push({ key, value: Buffer.concat([Buffer.alloc(20_000, 0x91), Buffer.from([0x01])]) })
        break
      case 6:
        out.push({ key, value: valid(i), headers: { 'content-type': 'application/json' } }) // lies about its format
        break
      case 7:
        out.push({
          key,
          value: Buffer.from('{"commandId": "fz-json", "type": "Deposit", "payload": {"amount": 5}'),
          headers: { 'content-type': 'application/json' },
        })
        break
      case 8:
        out.push({ key: null, value: valid(i) })
        break
      default:
        out.push({
          key,
          value: packr.pack({
            commandId: `fz-c-${i}`,
            type: 'CreateAccount',
            payload: { owner: 'fuzz' },
            expectedVersion: -3.5,
          }),
        })
    }
  }
  return out
}

describe('fuzzing the command topic (worker process, real broker)', () => {
  let w: WorkerProcess | undefined
  afterAll(async () => {
    w?.kill('SIGKILL')
    await w?.exited
  })

  it('answers or dead-letters every malformed record and never crashes', async () => {
    const dir = tempDir('fuzz')
    const file = writeBankTopology(dir, `fuzz-${Date.now()}`)
    const topology = await loadTopology(file)
    const kafka = newKafka('fuzz-test')
    w = spawnWorker(file, `${dir}/state`)
    await waitForLog(w, /task running/, 6, 90_000)

    const records = fuzzRecords(3, 2000)
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const sent: { key: string | null; partition: number; offset: string }[] = []
    // One record per send, so each record's partition and offset are known exactly.
    for (const r of records) {
      const [meta] = await producer.send({ topic: topology.topics.commands, messages: [r] })
      sent.push({ key: r.key, partition: meta!.partition, offset: meta!.baseOffset! })
    }
    await producer.disconnect()

    const deadline = Date.now() + 120_000
    let answered = 0
    let missing: typeof sent = sent
    while (Date.now() < deadline) {
      const dlq = await readTopic(kafka, topology.topics.deadLetters, { raw: true })
      const replies = await readTopic(kafka, topology.topics.replies)
      const dead = new Set(
        dlq.map((r) => `${r.headers['kd-source-partition']}/${r.headers['kd-source-offset']}`),
      )
      const repliedKeys = new Set(replies.map((r) => (r.value as { aggregateId: string }).aggregateId))
      missing = sent.filter(
        (s) => !dead.has(`${s.partition}/${s.offset}`) && !(s.key !== null && repliedKeys.has(s.key)),
      )
      answered = sent.length - missing.length
      if (missing.length === 0) break
      await new Promise((r) => setTimeout(r, 1000))
    }
    expect(missing.slice(0, 5)).toEqual([])
    expect(answered).toBe(records.length)
    expect(w.proc.exitCode).toBeNull() // still running
    expect(w.output()).not.toMatch(/"level":60/) // no fatal log
  }, 300_000)
})
