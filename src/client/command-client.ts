/**
 * CommandClient: for other Node services. send() writes a command envelope keyed by aggregateId with
 * kafkajs' default (Java-compatible murmur2) partitioner, so every client routes an aggregate to the same
 * partition. sendAndWait() also awaits the reply, read read_committed from the replies topic.
 */
import { randomUUID } from 'node:crypto'
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs'
import { CONTENT_TYPES, decode, encode, type Serialization } from '../domain/codec.ts'
import { HEADERS, type CommandEnvelope, type ReplyEnvelope } from '../domain/envelopes.ts'
import { ReplyTimeoutError } from '../errors.ts'
import { partitionOf } from '../kafka/partitioner.ts'
import { CommittedRecordsReader } from '../kafka/transactions.ts'

export interface CommandClientOptions {
  kafka: Kafka
  commandsTopic: string
  repliesTopic: string
  serialization?: Serialization
  /** Default for sendAndWait. */
  timeoutMs?: number
}

export interface SendOptions {
  aggregateId: string
  type: string
  payload: unknown
  commandId?: string
  expectedVersion?: number
  metadata?: CommandEnvelope['metadata']
}

export { ReplyTimeoutError }

export class CommandClient {
  private producer: Producer | undefined
  private consumer: Consumer | undefined
  private admin: Admin | undefined
  private readonly waiting = new Map<string, (r: ReplyEnvelope) => void>()
  private repliesReady: Promise<void> | undefined
  private commandPartitions: Promise<number> | undefined

  constructor(private readonly o: CommandClientOptions) {}

  /** Sends one command; returns its commandId. */
  async send(cmd: SendOptions): Promise<string> {
    const commandId = cmd.commandId ?? randomUUID()
    const serialization = this.o.serialization ?? 'msgpack'
    const envelope: CommandEnvelope = {
      commandId,
      type: cmd.type,
      payload: cmd.payload,
      ...(cmd.expectedVersion !== undefined ? { expectedVersion: cmd.expectedVersion } : {}),
      metadata: { issuedAt: new Date().toISOString(), ...cmd.metadata },
    }
    await this.sendRaw([
      {
        key: cmd.aggregateId,
        value: encode(envelope, serialization),
        headers: { [HEADERS.contentType]: CONTENT_TYPES[serialization] },
      },
    ])
    return commandId
  }

  /**
   * Sends pre-encoded records to the commands topic (bulk loads, tests of malformed input). One kafkajs send
   * per partition, in parallel: a kafkajs 2.2.4 send that spans several brokers can duplicate or silently
   * drop records when it retries (see src/kafka/transactional-producer.ts); a one-partition send cannot.
   */
  async sendRaw(
    messages: {
      key: string | Buffer | null
      value: Buffer | null
      headers?: Record<string, string | Buffer>
    }[],
  ): Promise<void> {
    if (!this.producer) {
      this.producer = this.o.kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
      await this.producer.connect()
    }
    const producer = this.producer
    if (messages.length === 1) {
      await producer.send({ topic: this.o.commandsTopic, messages })
      return
    }
    this.commandPartitions ??= (async () => {
      const admin = this.o.kafka.admin()
      await admin.connect()
      try {
        const meta = await admin.fetchTopicMetadata({ topics: [this.o.commandsTopic] })
        return meta.topics[0]!.partitions.length
      } finally {
        await admin.disconnect()
      }
    })().catch((e: unknown) => {
      this.commandPartitions = undefined
      throw e
    })
    const count = await this.commandPartitions
    const byPartition = new Map<number, typeof messages>()
    for (const m of messages) {
      const p = m.key === null ? 0 : partitionOf(m.key, count)
      let list = byPartition.get(p)
      if (!list) byPartition.set(p, (list = []))
      list.push(m)
    }
    await Promise.all(
      [...byPartition].map(([partition, list]) =>
        producer.send({ topic: this.o.commandsTopic, messages: list.map((m) => ({ ...m, partition })) }),
      ),
    )
  }

  /** Sends one command and resolves with its reply; rejects with ReplyTimeoutError after timeoutMs. */
  async sendAndWait(cmd: SendOptions, timeoutMs = this.o.timeoutMs ?? 30_000): Promise<ReplyEnvelope> {
    await this.listenForReplies()
    const commandId = cmd.commandId ?? randomUUID()
    const reply = new Promise<ReplyEnvelope>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(commandId)
        reject(
          new ReplyTimeoutError(
            `no reply to command ${commandId} within ${timeoutMs} ms: is a worker running for ${this.o.commandsTopic}?`,
          ),
        )
      }, timeoutMs)
      this.waiting.set(commandId, (r) => {
        clearTimeout(timer)
        resolve(r)
      })
    })
    await this.send({ ...cmd, commandId })
    return reply
  }

  private listenForReplies(): Promise<void> {
    this.repliesReady ??= (async () => {
      const { kafka, repliesTopic } = this.o
      this.admin = kafka.admin()
      await this.admin.connect()
      // Replies written from now on: start at today's end of every partition, not at whatever "latest" means later.
      const ends = await this.admin.fetchTopicOffsets(repliesTopic)
      // read_uncommitted, with the transaction markers applied here: replies partitions are written by every
      // task's producer, and kafkajs' own read_committed filter then lets aborted replies through
      // (src/kafka/transactions.ts). A reply is handed out only once its transaction committed.
      const consumer = kafka.consumer({
        groupId: `kafka-decider-client-${randomUUID()}`,
        readUncommitted: true,
        maxWaitTimeInMs: 50,
      })
      this.consumer = consumer
      const reader = new CommittedRecordsReader(consumer, repliesTopic, (_partition, records) => {
        for (const record of records) {
          if (record.value === null) continue
          const ct = record.headers[HEADERS.contentType]
          const reply = decode(record.value, ct === undefined ? undefined : String(ct)) as ReplyEnvelope
          this.waiting.get(reply.commandId)?.(reply)
          this.waiting.delete(reply.commandId)
        }
      })
      reader.listen()
      let joined!: () => void
      const joinedP = new Promise<void>((r) => (joined = r))
      consumer.on(consumer.events.GROUP_JOIN, () => {
        for (const e of ends) consumer.seek({ topic: repliesTopic, partition: e.partition, offset: e.high })
        joined()
      })
      await consumer.connect()
      await consumer.subscribe({ topic: repliesTopic })
      await consumer.run({ eachBatch: reader.eachBatch })
      await joinedP
    })()
    return this.repliesReady
  }

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined)
    await this.consumer?.disconnect().catch(() => undefined)
    await this.admin?.disconnect().catch(() => undefined)
  }
}
