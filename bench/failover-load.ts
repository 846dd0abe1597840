/**
 * The load of the failover phase: Deposit commands at a fixed rate to random seeded aggregates (so to every
 * partition), each on the partition the default partitioner gives its aggregate id, and a read_committed consumer of
 * the replies topic matching replies by commandId (as latency.ts does). Per command it keeps the partition, the send
 * time and the reply time (performance.now() ms; NaN until the reply is in).
 */
import { randomBytes } from 'node:crypto'
import type { Consumer, Kafka, Message, Producer } from 'kafkajs'
import { partitionOf } from '../src/kafka/partitioner.ts'
import type { Topology } from '../src/topology/loader.ts'
import { encodeCommand, type Cmd } from '../scripts/eos/bank.ts'
import { seededId } from './fill.ts'
import { percentile } from './latency.ts'
import type { LatencySummary } from './types.ts'
import { now, sleep, withTimeout } from './util.ts'

/** No load runs longer than this, whatever the caller does (the send loop's own bound). */
const MAX_SEND_MS = 30 * 60_000

export class FixedRateLoad {
  readonly partition: number[] = []
  readonly sentAt: number[] = []
  readonly replyAt: number[] = []
  /** Wall clock (Date.now()) of the send, and the reply record's timestamp (when the worker produced it). */
  readonly sentWall: number[] = []
  readonly replyWritten: number[] = []
  private replied = 0
  private readonly prefix = `fo-${randomBytes(4).toString('hex')}-`
  private readonly consumer: Consumer
  private readonly producer: Producer
  private stopping = false
  private loop: Promise<void> | undefined
  private seed = 12345

  constructor(
    kafka: Kafka,
    private readonly topology: Topology,
    private readonly aggregates: number,
    private readonly rate: number,
  ) {
    this.consumer = kafka.consumer({
      groupId: `bench-failover-replies-${randomBytes(4).toString('hex')}`,
      maxWaitTimeInMs: 20,
      readUncommitted: false,
    })
    this.producer = kafka.producer()
  }

  get sent(): number {
    return this.sentAt.length
  }

  get repliedCount(): number {
    return this.replied
  }

  /** Starts the reply consumer (from the end of the replies topic), then the send loop; returns when sending. */
  async start(): Promise<void> {
    let fetched!: () => void
    const firstFetch = new Promise<void>((r) => (fetched = r))
    this.consumer.on(this.consumer.events.FETCH, () => fetched())
    await this.consumer.connect()
    await this.consumer.subscribe({ topic: this.topology.topics.replies, fromBeginning: false })
    await this.consumer.run({
      partitionsConsumedConcurrently: 6,
      eachBatch: async ({ batch }) => {
        const t = now()
        for (const m of batch.messages) {
          const id = m.key?.toString()
          if (id === undefined || !id.startsWith(this.prefix)) continue
          const i = Number(id.slice(this.prefix.length))
          if (Number.isInteger(i) && i < this.replyAt.length && Number.isNaN(this.replyAt[i]!)) {
            this.replyAt[i] = t
            this.replyWritten[i] = Number(m.timestamp)
            this.replied++
          }
        }
      },
    })
    // After its first fetch the consumer's positions are the end offsets: no reply of ours can come before them.
    await withTimeout(firstFetch, 60_000, 'failover reply consumer first fetch')
    await sleep(200)
    await this.producer.connect()
    this.loop = this.send()
  }

  private nextAggregate(): number {
    this.seed = (Math.imul(this.seed, 1664525) + 1013904223) >>> 0
    return Math.floor((this.seed / 2 ** 32) * this.aggregates)
  }

  private async send(): Promise<void> {
    const partitions = this.topology.definition.partitions
    const pending = new Set<Promise<unknown>>()
    const started = now()
    let sent = 0
    while (!this.stopping && now() - started < MAX_SEND_MS) {
      const due = Math.floor((this.rate * (now() - started)) / 1000) - sent
      if (due > 0 && pending.size < 64) {
        const messages: Message[] = []
        const t = now()
        const wall = Date.now()
        for (let k = 0; k < due; k++) {
          const i = this.sentAt.length
          const aggregateId = seededId(this.nextAggregate())
          const p = partitionOf(aggregateId, partitions)
          const cmd: Cmd = {
            aggregateId,
            commandId: `${this.prefix}${i}`,
            type: 'Deposit',
            payload: { amount: 1 },
          }
          messages.push({ ...encodeCommand(cmd), partition: p })
          this.partition.push(p)
          this.sentAt.push(t)
          this.replyAt.push(NaN)
          this.sentWall.push(wall)
          this.replyWritten.push(NaN)
        }
        sent += due
        const s = this.producer
          .send({ topic: this.topology.topics.commands, messages })
          .finally(() => pending.delete(s))
        pending.add(s)
      }
      await sleep(2)
    }
    await Promise.all(pending)
  }

  /** Stops sending (every send handed to the producer is acknowledged when this returns). */
  async stop(): Promise<void> {
    this.stopping = true
    await this.loop
  }

  /** The first reply (time) of a command to `partition` sent at or after `from`; undefined when none yet. */
  firstReply(partition: number, from: number): number | undefined {
    let first: number | undefined
    // Send times only grow: scan back to `from`.
    for (let i = this.sentAt.length - 1; i >= 0 && this.sentAt[i]! >= from; i--) {
      const r = this.replyAt[i]!
      if (this.partition[i] === partition && !Number.isNaN(r) && (first === undefined || r < first)) first = r
    }
    return first
  }

  /** Waits (bounded) until every command sent has its reply, or none came for 20 s, or `timeoutMs`. */
  async drain(timeoutMs: number, alive: () => void): Promise<void> {
    const deadline = now() + timeoutMs
    let last = this.replied
    let lastProgress = now()
    while (this.replied < this.sent && now() < deadline && now() - lastProgress < 20_000) {
      await sleep(100)
      alive()
      if (this.replied !== last) {
        last = this.replied
        lastProgress = now()
      }
    }
  }

  /**
   * Latency of the commands `which` selects (by index); unreplied ones count in `sent` only. `visible`: until the
   * reply reached the read_committed consumer; `written`: until the worker produced it (the reply record's
   * timestamp against the wall clock of the send; same machine).
   */
  summary(which: (i: number) => boolean, until: 'visible' | 'written' = 'visible'): LatencySummary {
    const lat: number[] = []
    let sent = 0
    for (let i = 0; i < this.sentAt.length; i++) {
      if (!which(i)) continue
      sent++
      if (Number.isNaN(this.replyAt[i]!)) continue
      lat.push(
        until === 'visible' ? this.replyAt[i]! - this.sentAt[i]! : this.replyWritten[i]! - this.sentWall[i]!,
      )
    }
    lat.sort((a, b) => a - b)
    return {
      sent,
      replied: lat.length,
      p50Ms: percentile(lat, 0.5),
      p99Ms: percentile(lat, 0.99),
      maxMs: lat[lat.length - 1] ?? NaN,
    }
  }

  /** The longest a reply of the commands `which` selects was written but not yet visible to read_committed. */
  maxHeldBack(which: (i: number) => boolean): number {
    let max = NaN
    for (let i = 0; i < this.sentAt.length; i++) {
      if (!which(i) || Number.isNaN(this.replyAt[i]!)) continue
      const held = this.replyAt[i]! - this.sentAt[i]! - (this.replyWritten[i]! - this.sentWall[i]!)
      if (!(held <= max)) max = held
    }
    return max
  }

  /** How many commands `which` selects. */
  count(which: (i: number) => boolean): number {
    let n = 0
    for (let i = 0; i < this.sentAt.length; i++) if (which(i)) n++
    return n
  }

  async close(): Promise<void> {
    this.stopping = true
    await this.loop?.catch(() => undefined)
    await this.producer.disconnect().catch(() => undefined)
    await this.consumer.disconnect().catch(() => undefined)
  }
}
