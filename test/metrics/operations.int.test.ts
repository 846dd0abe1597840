/**
 * Operations on the real broker, in process, over HTTP: after N commands /metrics counts them by outcome
 * (as the reference model judges the input), lag goes to 0, /readyz is 503 while tasks restore and while
 * shutting down and 200 when all tasks run; payloads never reach the logs at info or above.
 */
import { Writable } from 'node:stream'
import { afterAll, describe, expect, it, vi } from 'vitest'
import pino from 'pino'
import { resolveWorkerConfig } from '../../src/config/worker-config.ts'
import { KafkaChangelogReader } from '../../src/kafka/changelog-reader.ts'
import { METRIC } from '../../src/metrics/metrics.ts'
import { Worker } from '../../src/worker/worker.ts'
import { TaskState } from '../../src/runtime/task-state.ts'
import { loadTopology } from '../../src/topology/loader.ts'
import { kafkaBrokers, newKafka } from '../support/kafka.ts'
import {
  bankWorkload,
  inputCommands,
  referenceModel,
  sendCommands,
  tempDir,
  waitForReplies,
  writeBankTopology,
} from '../support/eos.ts'

const MARKER = 'PAYLOAD-MARKER-7f3a'
const kafka = () => newKafka('ops-int')

/** Every log line (JSON), at every level: the test filters by level. */
const lines: string[] = []
const sink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    lines.push(...chunk.toString().split('\n').filter(Boolean))
    cb()
  },
})

function newWorker(topology: Awaited<ReturnType<typeof loadTopology>>, stateDir: string): Worker {
  const config = resolveWorkerConfig(
    {
      kafka: { brokers: kafkaBrokers() },
      stateDir,
      http: { enabled: true, host: '127.0.0.1', port: 0 },
      log: { level: 'trace' },
    },
    {},
  )
  return new Worker({ topologies: [topology], config, logger: pino({ level: 'trace' }, sink) })
}

async function get(w: Worker, path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`${w.httpAddress!}${path}`)
  return { status: r.status, body: await r.text() }
}

/** Parses the Prometheus text format: [name, labels, value] per sample line. */
async function scrape(w: Worker): Promise<{ name: string; labels: Record<string, string>; value: number }[]> {
  const { body } = await get(w, '/metrics')
  return body
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(l)!
      const labels = Object.fromEntries(
        [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]),
      )
      return { name: m[1]!, labels, value: Number(m[3]) }
    })
}

const sumBy = (samples: Awaited<ReturnType<typeof scrape>>, name: string, label: string) => {
  const out: Record<string, number> = {}
  for (const s of samples.filter((x) => x.name === name))
    out[s.labels[label] ?? ''] = (out[s.labels[label] ?? ''] ?? 0) + s.value
  return out
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms
  let v = await fn()
  while (!ok(v)) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${ms} ms; last: ${JSON.stringify(v)}`)
    await new Promise((r) => setTimeout(r, 50))
    v = await fn()
  }
  return v
}

describe('operations: /metrics, /readyz, lag, logs (in process, real broker)', () => {
  const dir = tempDir('ops')
  const workers: Worker[] = []
  afterAll(async () => {
    await Promise.allSettled(workers.map((w) => w.stop()))
  })

  it('counts N commands by outcome, lag goes to 0, readyz 200 when running and 503 when shutting down, then 503 during a restore', async () => {
    const topology = await loadTopology(writeBankTopology(dir, `ops-${Date.now()}`))
    const a = newWorker(topology, `${dir}/state-a`)
    workers.push(a)
    await a.start()
    await until(
      () => get(a, '/readyz'),
      (r) => r.status === 200,
      20_000,
      'worker A ready',
    )
    expect((await get(a, '/livez')).status).toBe(200)

    // N commands: the bank workload (accepted, rejected, duplicate, conflict) with a payload marker, plus two invalid ones.
    const cmds = bankWorkload(11, 24, 240).map((c) =>
      c.type === 'CreateAccount' ? { ...c, payload: { owner: `${MARKER} ${c.aggregateId}` } } : c,
    )
    const k = kafka()
    await sendCommands(k, topology.topics.commands, cmds)
    const producer = k.producer()
    await producer.connect()
    await producer.send({
      topic: topology.topics.commands,
      messages: [
        {
          key: 'acc-ops-bad',
          value: Buffer.from(
            JSON.stringify({ commandId: 'ops-bad-payload', type: 'Deposit', payload: { amount: MARKER } }),
          ),
          headers: { 'content-type': 'application/json' },
        },
        {
          key: 'acc-ops-bad',
          value: Buffer.from(`{${MARKER} not json`),
          headers: { 'content-type': 'application/json' },
        },
      ],
    })
    await producer.disconnect()

    const input = await inputCommands(k, topology.topics.commands, cmds)
    const expected: Record<string, number> = { invalid: 2 }
    for (const s of referenceModel(input).statuses) expected[s] = (expected[s] ?? 0) + 1
    const total = input.length + 2
    await waitForReplies(k, topology.topics.replies, input.length + 1, 20_000) // the undecodable one gets no reply

    const samples = await until(
      () => scrape(a),
      (s) => Object.values(sumBy(s, METRIC.commands, 'outcome')).reduce((x, y) => x + y, 0) >= total,
      10_000,
      'commands counted',
    )
    expect(sumBy(samples, METRIC.commands, 'outcome')).toEqual(expected)
    expect(Object.keys(expected)).toEqual(
      expect.arrayContaining(['accepted', 'rejected', 'duplicate', 'conflict', 'invalid']),
    )
    expect(sumBy(samples, METRIC.deadLetters, 'reason')).toEqual({ invalid_payload: 1, undecodable: 1 })
    expect(sumBy(samples, `${METRIC.commandLatency}_count`, 'topology')).toEqual({
      [topology.definition.name]: total,
    })
    expect(sumBy(samples, `${METRIC.commandSeconds}_count`, 'topology')).toEqual({
      [topology.definition.name]: total,
    })
    const tx = sumBy(samples, METRIC.transactions, 'result')
    expect(tx.committed).toBeGreaterThan(0)
    expect(tx.aborted ?? 0).toBe(0)
    expect(sumBy(samples, `${METRIC.commitSeconds}_count`, 'topology')[topology.definition.name]).toBe(
      tx.committed,
    )
    expect(sumBy(samples, `${METRIC.batchSize}_sum`, 'topology')[topology.definition.name]).toBe(total)
    expect(sumBy(samples, METRIC.taskState, 'state')).toMatchObject({ RUNNING: 6, RESTORING: 0 })
    expect(sumBy(samples, METRIC.assigned, 'topology')[topology.definition.name]).toBe(6)
    expect(samples.find((s) => s.name === METRIC.buildInfo)?.value).toBe(1)
    expect(samples.some((s) => s.name === 'process_resident_memory_bytes')).toBe(true)

    // Lag from offsets (high watermark - position) reaches 0 on every partition that had input.
    const withInput = new Set(
      (await k.admin().fetchTopicOffsets(topology.topics.commands))
        .filter((o) => o.high !== '0')
        .map((o) => o.partition.toString()),
    )
    const lagged = await until(
      async () => (await scrape(a)).filter((s) => s.name === METRIC.lag),
      (lag) =>
        withInput.size > 0 &&
        [...withInput].every((p) => lag.some((s) => s.labels.partition === p && s.value === 0)),
      10_000,
      'lag 0',
    )
    expect(lagged.every((s) => s.value === 0)).toBe(true)
    const hw = (await scrape(a)).filter((s) => s.name === METRIC.highWatermark)
    expect(hw.reduce((x, s) => x + s.value, 0)).toBe(total)

    // Payloads never at info or above (kafkajs' bridged logs included); the run did log at info.
    const parsed = lines.map((l) => JSON.parse(l) as { level: number; msg?: string })
    expect(parsed.some((l) => l.level === 30 && l.msg === 'task running')).toBe(true)
    expect(lines.filter((l, i) => parsed[i]!.level >= 30 && l.includes(MARKER))).toEqual([])

    // Shutting down: 503 at once, while the runners stop.
    const stopping = a.stop()
    const during = await get(a, '/readyz')
    expect(during).toEqual({ status: 503, body: 'not ready: shutting down\n' })
    await stopping

    // A second worker with an empty state dir restores all 6 tasks from the changelog: 503 while any
    // task is RESTORING (its state the same before and after the request), 200 only when all are RUNNING.
    // A restore of this small changelog takes milliseconds: each changelog read starts 300 ms late here, so the
    // requests below meet tasks in RESTORING for sure.
    const read = KafkaChangelogReader.prototype.read
    const slowRead = vi.spyOn(KafkaChangelogReader.prototype, 'read').mockImplementation(async function (
      this: KafkaChangelogReader,
      ...args: Parameters<typeof read>
    ) {
      await new Promise((r) => setTimeout(r, 300))
      return read.apply(this, args)
    })
    const b = newWorker(topology, `${dir}/state-b`)
    workers.push(b)
    const starting = b.start()
    const states = () => [...(b.runners[0]?.tasks.values() ?? [])].map((t) => t.state)
    const seen: { before: string[]; status: number; after: string[] }[] = []
    await until(
      async () => b.httpAddress,
      (x) => x !== undefined,
      10_000,
      'http of B',
    )
    const deadline = Date.now() + 25_000
    for (;;) {
      const before = states()
      const { status } = await get(b, '/readyz')
      seen.push({ before, status, after: states() })
      if (status === 200) break
      if (Date.now() > deadline) throw new Error(`B not ready: ${JSON.stringify(seen.slice(-3))}`)
    }
    await starting
    slowRead.mockRestore()
    const restoring = (s: string[]) => s.includes(TaskState.RESTORING)
    expect(seen.some((s) => s.status === 503 && restoring(s.before) && restoring(s.after))).toBe(true)
    for (const s of seen.filter((x) => x.status === 200)) {
      expect(restoring(s.before) && restoring(s.after)).toBe(false) // never 200 in the middle of a restore
      expect(s.after).toEqual(Array(6).fill(TaskState.RUNNING)) // a task may turn RUNNING just before the answer
    }
    const after = await scrape(b)
    expect(
      Object.values(sumBy(after, METRIC.restoredRecords, 'partition')).reduce((x, y) => x + y, 0),
    ).toBeGreaterThan(0)
    expect(Object.values(sumBy(after, METRIC.restoreRemaining, 'partition')).every((v) => v === 0)).toBe(true)
    expect(sumBy(after, `${METRIC.restoreSeconds}_count`, 'topology')[topology.definition.name]).toBe(6)
    expect(sumBy(after, METRIC.commands, 'outcome')).toEqual({}) // nothing re-processed
  }, 60_000)
})
