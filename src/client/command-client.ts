/**
 * CommandClient: for other Node services. send() writes a command envelope keyed by aggregateId with
 * kafkajs' default (Java-compatible murmur2) partitioner, so every client routes an aggregate to the same
 * partition. sendAndWait() also awaits the reply, read read_committed from the replies topic. Kafka is
 * reached through a CommandTransport (./transport.ts): the kafkajs one over the `kafka` option, or your own.
 */
import { randomUUID } from 'node:crypto'
import { CONTENT_TYPES, decode, encode, type Serialization } from '../domain/codec.ts'
import { HEADERS, type CommandEnvelope, type ReplyEnvelope } from '../domain/envelopes.ts'
import { ReplyTimeoutError, UsageError } from '../errors.ts'
import type { KafkaConnection } from '../kafka/client.ts'
import { KafkaCommandTransport } from '../kafka/command-transport.ts'
import type { CommandRecord, CommandTransport, ReplyRecord } from './transport.ts'

export interface CommandClientOptions {
  /** A kafkajs `Kafka` client: the client then talks to Kafka over it. Give this or `transport`. */
  kafka?: KafkaConnection
  /** Another way to reach the commands and replies topics below (another Kafka client, a test double). */
  transport?: CommandTransport
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

export type { CommandRecord, CommandTransport, ReplyRecord }
export { ReplyTimeoutError }

export class CommandClient {
  private readonly transport: CommandTransport
  private readonly waiting = new Map<string, (r: ReplyEnvelope) => void>()
  private repliesReady: Promise<void> | undefined

  constructor(private readonly o: CommandClientOptions) {
    if ((o.kafka === undefined) === (o.transport === undefined)) {
      throw new UsageError(
        'CommandClient needs either `kafka` (a kafkajs Kafka client) or `transport`, not both',
      )
    }
    this.transport =
      o.transport ??
      new KafkaCommandTransport(o.kafka!, { commandsTopic: o.commandsTopic, repliesTopic: o.repliesTopic })
  }

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
   * Sends pre-encoded records to the commands topic (bulk loads, tests of malformed input), each keyed
   * record to its key's partition.
   */
  async sendRaw(messages: CommandRecord[]): Promise<void> {
    await this.transport.send(messages)
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
    this.repliesReady ??= this.transport.listenForReplies((records) => {
      for (const record of records) {
        if (record.value === null) continue
        const reply = decode(record.value, record.headers[HEADERS.contentType]) as ReplyEnvelope
        this.waiting.get(reply.commandId)?.(reply)
        this.waiting.delete(reply.commandId)
      }
    })
    return this.repliesReady
  }

  async close(): Promise<void> {
    await this.transport.close()
  }
}
