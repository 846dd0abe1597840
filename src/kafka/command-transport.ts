/**
 * The CommandClient's transport over kafkajs: the CommandTransport of src/client/transport.ts, matched structurally
 * (src/kafka does not import the client).
 */
import { randomUUID } from 'node:crypto'
import type { Consumer, IHeaders, Producer, RecordMetadata } from 'kafkajs'
import { withClusterAdmin } from './admin.ts'
import type { KafkaConnection } from './client.ts'
import { partitionOf } from './partitioner.ts'
import { CommittedRecordsReader } from './transactions.ts'
import { retryMetadata } from './errors.ts'

/** A record for the commands topic. */
interface CommandRecord {
  key: string | Buffer | null
  value: Buffer | null
  headers?: Record<string, string | Buffer>
}

/** Where a record was written: partition and offset (decimal). */
interface SentRecord {
  partition: number
  offset: string
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
   * one-partition send cannot. Resolves with where each record was written: kafkajs writes a partition's
   * messages of one send as one record batch (offset delta = index in the list) and hands back the batch's
   * base offset per partition, so a record's offset is that base offset plus its index in its partition's list.
   */
  async send(records: CommandRecord[]): Promise<SentRecord[]> {
    if (!this.producer) {
      this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
      await this.producer.connect()
    }
    const producer = this.producer
    const topic = this.o.commandsTopic
    if (records.length === 1) {
      const metadata = await producer.send({ topic, messages: records })
      return [positionIn(metadata, 0)]
    }
    this.commandPartitions ??= withClusterAdmin(this.kafka, (admin) => admin.partitionCount(topic)).catch(
      (e: unknown) => {
        this.commandPartitions = undefined
        throw e
      },
    )
    const count = await this.commandPartitions
    // Indexes into `records`, by partition.
    const byPartition = new Map<number, number[]>()
    records.forEach((r, i) => {
      const p = r.key === null ? 0 : partitionOf(r.key, count)
      let list = byPartition.get(p)
      if (!list) byPartition.set(p, (list = []))
      list.push(i)
    })
    const sent: SentRecord[] = new Array<SentRecord>(records.length)
    await Promise.all(
      [...byPartition].map(async ([partition, list]) => {
        const metadata = await producer.send({
          topic,
          messages: list.map((i) => ({ ...records[i]!, partition })),
        })
        list.forEach((recordIndex, i) => (sent[recordIndex] = positionIn(metadata, i)))
      }),
    )
    return sent
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
    await retryMetadata(() => consumer.subscribe({ topic })) // a fresh topic may be unknown for a moment
    await consumer.run({ eachBatch: reader.eachBatch })
    await joinedP
  }

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined)
    await this.consumer?.disconnect().catch(() => undefined)
  }
}

/**
 * The position of the `index`th message of a one-partition kafkajs send, from what the send resolved with (one
 * entry, that partition's): the record batch's base offset (`offset` in produce responses before v3) plus the index.
 */
function positionIn(metadata: RecordMetadata[], index: number): SentRecord {
  const m = metadata.length === 1 ? metadata[0] : undefined
  const base = m?.baseOffset ?? m?.offset
  if (m === undefined || base === undefined) {
    throw new Error(
      `kafkajs answered a one-partition send with ${JSON.stringify(metadata)}, not with that partition's base offset`,
    )
  }
  return { partition: m.partition, offset: (BigInt(base) + BigInt(index)).toString() }
}

function stringHeaders(headers: IHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = String(v)
  return out
}
