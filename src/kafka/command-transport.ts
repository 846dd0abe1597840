/**
 * The CommandClient's transport over kafkajs: the CommandTransport of src/client/transport.ts, matched structurally
 * (src/kafka does not import the client).
 */
import { randomUUID } from 'node:crypto'
import type { Consumer, IHeaders, Producer } from 'kafkajs'
import { withClusterAdmin } from './admin.ts'
import type { KafkaConnection } from './client.ts'
import { partitionOf } from './partitioner.ts'
import { CommittedRecordsReader } from './transactions.ts'

/** A record for the commands topic. */
interface CommandRecord {
  key: string | Buffer | null
  value: Buffer | null
  headers?: Record<string, string | Buffer>
}

/** A committed reply: its value and its headers as strings. */
interface ReplyRecord {
  value: Buffer | null
  headers: Record<string, string>
}

export interface KafkaCommandTransportOptions {
  commandsTopic: string
  repliesTopic: string
}

export class KafkaCommandTransport {
  private producer: Producer | undefined
  private consumer: Consumer | undefined
  private commandPartitions: Promise<number> | undefined

  constructor(
    private readonly kafka: KafkaConnection,
    private readonly o: KafkaCommandTransportOptions,
  ) {}

  /**
   * One kafkajs send per partition, in parallel: a kafkajs 2.2.4 send that spans several brokers can
   * duplicate or silently drop records when it retries (see src/kafka/transactional-producer.ts); a
   * one-partition send cannot.
   */
  async send(records: CommandRecord[]): Promise<void> {
    if (!this.producer) {
      this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
      await this.producer.connect()
    }
    const producer = this.producer
    const topic = this.o.commandsTopic
    if (records.length === 1) {
      await producer.send({ topic, messages: records })
      return
    }
    this.commandPartitions ??= withClusterAdmin(this.kafka, (admin) => admin.partitionCount(topic)).catch(
      (e: unknown) => {
        this.commandPartitions = undefined
        throw e
      },
    )
    const count = await this.commandPartitions
    const byPartition = new Map<number, CommandRecord[]>()
    for (const r of records) {
      const p = r.key === null ? 0 : partitionOf(r.key, count)
      let list = byPartition.get(p)
      if (!list) byPartition.set(p, (list = []))
      list.push(r)
    }
    await Promise.all(
      [...byPartition].map(([partition, list]) =>
        producer.send({ topic, messages: list.map((m) => ({ ...m, partition })) }),
      ),
    )
  }

  async listenForReplies(onReplies: (records: ReplyRecord[]) => void): Promise<void> {
    const topic = this.o.repliesTopic
    // Replies written from now on: start at today's end of every partition, not at whatever "latest" means later.
    const ends = await withClusterAdmin(this.kafka, (admin) => admin.endOffsets(topic))
    // read_uncommitted, with the transaction markers applied here: replies partitions are written by every
    // task's producer, and kafkajs' own read_committed filter then lets aborted replies through
    // (src/kafka/transactions.ts). A reply is handed out only once its transaction committed.
    const consumer = this.kafka.consumer({
      groupId: `kafka-decider-client-${randomUUID()}`,
      readUncommitted: true,
      maxWaitTimeInMs: 50,
    })
    this.consumer = consumer
    const reader = new CommittedRecordsReader(consumer, topic, (_partition, records) => {
      if (records.length > 0)
        onReplies(records.map((r) => ({ value: r.value, headers: stringHeaders(r.headers) })))
    })
    reader.listen()
    let joined!: () => void
    const joinedP = new Promise<void>((r) => (joined = r))
    consumer.on(consumer.events.GROUP_JOIN, () => {
      for (const [partition, offset] of ends) consumer.seek({ topic, partition, offset })
      joined()
    })
    await consumer.connect()
    await consumer.subscribe({ topic })
    await consumer.run({ eachBatch: reader.eachBatch })
    await joinedP
  }

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined)
    await this.consumer?.disconnect().catch(() => undefined)
  }
}

function stringHeaders(headers: IHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = String(v)
  return out
}
