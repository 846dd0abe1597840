/** 2. Latency: a rate-limited producer and a read_committed reply consumer matching commandIds. */
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PerformanceObserver } from 'node:perf_hooks'
import type { Admin, Kafka, Message } from 'kafkajs'
import { encodeCommand, type Cmd, type WorkerProcess } from '../scripts/eos/bank.ts'
import { committedSum, topicEnd } from './topics.ts'
import type { Latency } from './types.ts'
import { now, sleep, withTimeout } from './util.ts'

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!
}

/**
 * What a latency level sends commands to and reads replies from: a kafka-decider worker or the Kafka Streams
 * baseline app (bench/kstreams-latency.ts), its consumer group and its process.
 */
export interface LatencyTarget {
  group: string
  commands: string
  replies: string
  process: WorkerProcess
}

/** Waits (bounded) until the group's committed offsets reach the end of the commands topic: the app is idle. */
export async function drained(admin: Admin, target: LatencyTarget, timeoutMs: number): Promise<void> {
  const deadline = now() + timeoutMs
  let c = 0
  let end = 0
  while (now() < deadline) {
    c = await committedSum(admin, target.group, target.commands)
    end = await topicEnd(admin, target.commands)
    if (c >= end) return
    await sleep(200)
  }
  const offsets = await admin.fetchOffsets({ groupId: target.group, topics: [target.commands] })
  const ends = await admin.fetchTopicOffsets(target.commands)
  throw new Error(
    `${target.group}: the app did not catch up within ${timeoutMs} ms (committed ${c} of ${end}; ` +
      `committed ${JSON.stringify(offsets[0]?.partitions.map((p) => [p.partition, p.offset]))}, ends ${JSON.stringify(ends.map((e) => [e.partition, e.high]))}); its log:\n${target.process.output().slice(-6000)}`,
  )
}

export async function measureLatency(
  kafka: Kafka,
  admin: Admin,
  target: LatencyTarget,
  accounts: number,
  rate: number,
  seconds: number,
  tag: string,
  /** Called when the first command is sent and when the last reply came (or the wait for it ended). */
  window?: { start: () => void; end: () => void },
): Promise<Latency> {
  const worker = target.process
  const alive = () => {
    if (worker.proc.exitCode !== null || worker.proc.signalCode !== null)
      throw new Error(`worker exited during the latency run:\n${worker.output().slice(-3000)}`)
  }
  // Each load level starts with an idle worker (the previous level's queue drained).
  await drained(admin, target, 300_000)
  alive()
  const sentAt = new Map<string, number>()
  const latencies: number[] = []
  /** Until the reply was written: its record's timestamp (the worker's producer clock when it built the request). */
  const written: number[] = []
  const wallOffset = Date.now() - now()
  // BENCH_METRICS_DIR=dir: every reply's send time (ms from the level's start), latency, latency until written,
  // partition and send time (wall clock, ms since the epoch: to line up with other recordings), as CSV per level.
  const trace: string[] | undefined = process.env.BENCH_METRICS_DIR ? [] : undefined
  const t0 = now()
  // With the trace, the load generator's own pauses too (its GC and its event loop's lag), on the wall clock: a pause
  // here delays commands already stamped, and shows as latency of every partition at once.
  const pauses: string[] = []
  const gc = trace
    ? new PerformanceObserver((list) => {
        for (const e of list.getEntries())
          pauses.push(`gc,${Math.round(wallOffset + e.startTime)},${e.duration.toFixed(1)}`)
      })
    : undefined
  gc?.observe({ entryTypes: ['gc'] })
  let tick = now()
  const lag = trace
    ? setInterval(() => {
        const t = now()
        if (t - tick > 15) pauses.push(`lag,${Math.round(wallOffset + tick)},${(t - tick - 5).toFixed(1)}`)
        tick = t
      }, 5).unref()
    : undefined
  const consumer = kafka.consumer({
    groupId: `bench-replies-${tag}-${randomBytes(4).toString('hex')}`,
    maxWaitTimeInMs: 20,
    readUncommitted: false,
  })
  let fetched!: () => void
  const firstFetch = new Promise<void>((r) => (fetched = r))
  consumer.on(consumer.events.FETCH, () => fetched())
  await consumer.connect()
  await consumer.subscribe({ topic: target.replies, fromBeginning: false })
  await consumer.run({
    // Nothing reads this group's offsets back; kafkajs would otherwise commit after every partition's batch, an
    // OffsetCommit (and a write to __consumer_offsets) per batch on the broker the measured app shares.
    autoCommit: false,
    partitionsConsumedConcurrently: 6,
    eachBatch: async ({ batch }) => {
      const t = now()
      for (const m of batch.messages) {
        const id = m.key?.toString()
        if (id === undefined) continue
        const s = sentAt.get(id)
        if (s !== undefined) {
          if (trace)
            trace.push(
              `${(s - t0).toFixed(1)},${(t - s).toFixed(1)},${(Number(m.timestamp) - wallOffset - s).toFixed(1)},${batch.partition},${Math.round(wallOffset + s)}`,
            )
          latencies.push(t - s)
          written.push(Number(m.timestamp) - wallOffset - s)
          sentAt.delete(id)
        }
      }
    },
  })
  const producer = kafka.producer()
  try {
    // After its first fetch the consumer's positions are the end offsets: no reply of ours can come before them.
    await withTimeout(firstFetch, 60_000, 'reply consumer first fetch')
    await sleep(200)
    await producer.connect()
    const pending = new Set<Promise<unknown>>()
    window?.start()
    const started = now()
    const endAt = started + seconds * 1000
    let sent = 0
    let n = 0
    while (now() < endAt) {
      const due = Math.floor((rate * (now() - started)) / 1000) - sent
      if (due > 0 && pending.size < 64) {
        const messages: Message[] = []
        const t = now()
        for (let i = 0; i < due; i++) {
          const id = `lat-${tag}-${n++}`
          const cmd: Cmd = {
            aggregateId: `acc-${n % accounts}`,
            commandId: id,
            type: 'Deposit',
            payload: { amount: 1 },
          }
          messages.push(encodeCommand(cmd))
          sentAt.set(id, t)
        }
        sent += due
        const p = producer.send({ topic: target.commands, messages }).finally(() => pending.delete(p))
        pending.add(p)
      }
      await sleep(2)
    }
    const achievedRate = sent / ((now() - started) / 1000)
    await Promise.all(pending)
    // Bounded: until every reply is in, or no reply came for 20 s, or 300 s in all.
    const deadline = now() + 300_000
    let last = latencies.length
    let lastProgress = now()
    while (sentAt.size > 0 && now() < deadline && now() - lastProgress < 20_000) {
      await sleep(100)
      alive()
      if (latencies.length !== last) {
        last = latencies.length
        lastProgress = now()
      }
    }
    window?.end()
    if (trace) writeFileSync(join(process.env.BENCH_METRICS_DIR!, `${tag}-replies.csv`), trace.join('\n'))
    if (trace)
      writeFileSync(join(process.env.BENCH_METRICS_DIR!, `${tag}-bench-pauses.csv`), pauses.join('\n'))
    const sorted = [...latencies].sort((a, b) => a - b)
    const sortedWritten = [...written].sort((a, b) => a - b)
    return {
      targetRate: rate,
      achievedRate,
      sent,
      replied: latencies.length,
      p50Ms: percentile(sorted, 0.5),
      p95Ms: percentile(sorted, 0.95),
      p99Ms: percentile(sorted, 0.99),
      maxMs: sorted[sorted.length - 1] ?? NaN,
      written: {
        p50Ms: percentile(sortedWritten, 0.5),
        p99Ms: percentile(sortedWritten, 0.99),
        maxMs: sortedWritten[sortedWritten.length - 1] ?? NaN,
      },
    }
  } finally {
    gc?.disconnect()
    if (lag) clearInterval(lag)
    await producer.disconnect().catch(() => undefined)
    await consumer.disconnect().catch(() => undefined)
  }
}
