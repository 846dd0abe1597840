/**
 * CommandClient: for other Node services. send() writes a command envelope keyed by aggregateId with
 * kafkajs' default (Java-compatible murmur2) partitioner, so every client routes an aggregate to the same
 * partition. sendAndWait() also awaits the reply, read read_committed from the replies topic, matched by
 * (aggregateId, commandId): dedupe is per aggregate, so one commandId may be in use on two aggregates. Kafka is
 * reached through a CommandTransport (./transport.ts): the kafkajs one over the `kafka` option, or your own.
 */
import { randomUUID } from 'node:crypto'
import { CONTENT_TYPES, decode, encode, type Serialization } from '../domain/codec.ts'
import { checkAggregateId, HEADERS, type CommandEnvelope, type ReplyEnvelope } from '../domain/envelopes.ts'
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
  /** Callers of sendAndWait by waitKey(aggregateId, commandId), at most one each. */
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

  /**
   * Sends one command; returns its commandId. An aggregateId the worker would refuse (empty, reserved, not
   * encodable as UTF-8, above MAX_AGGREGATE_ID_BYTES) is a UsageError here, and nothing is sent.
   */
  async send(cmd: SendOptions): Promise<string> {
    checkId(cmd.aggregateId)
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

  /**
   * Sends one command and resolves with its reply (the one with its aggregateId and commandId); rejects with
   * ReplyTimeoutError after timeoutMs. While a call waits for (aggregateId, commandId), another call for the same
   * pair is refused with a UsageError and not sent: the two replies could not be told apart (await the first;
   * once it is answered, the same command may be sent again and gets the worker's `duplicate` reply).
   */
  async sendAndWait(cmd: SendOptions, timeoutMs = this.o.timeoutMs ?? 30_000): Promise<ReplyEnvelope> {
    checkId(cmd.aggregateId)
    await this.listenForReplies()
    const commandId = cmd.commandId ?? randomUUID()
    const key = waitKey(cmd.aggregateId, commandId)
    if (this.waiting.has(key)) {
      throw new UsageError(
        `already waiting for the reply to command ${commandId} on aggregate ${cmd.aggregateId}: await that call, or use another commandId`,
      )
    }
    let timer: NodeJS.Timeout | undefined
    const reply = new Promise<ReplyEnvelope>((resolve, reject) => {
      timer = setTimeout(() => {
        this.waiting.delete(key)
        reject(
          new ReplyTimeoutError(
            `no reply to command ${commandId} within ${timeoutMs} ms: is a worker running for ${this.o.commandsTopic}?`,
          ),
        )
      }, timeoutMs)
      this.waiting.set(key, (r) => {
        clearTimeout(timer)
        resolve(r)
      })
    })
    try {
      await this.send({ ...cmd, commandId })
    } catch (e) {
      // Not sent: stop waiting now, so the caller can retry the same command at once.
      clearTimeout(timer)
      this.waiting.delete(key)
      throw e
    }
    return reply
  }

  /**
   * Starts listening for replies (sendAndWait does so on its first call) and resolves once listening: a service
   * that must answer its first sendAndWait quickly calls this at start.
   */
  ready(): Promise<void> {
    return this.listenForReplies()
  }

  private listenForReplies(): Promise<void> {
    this.repliesReady ??= this.transport.listenForReplies((records) => {
      for (const record of records) {
        if (record.value === null) continue
        const reply = decode(record.value, record.headers[HEADERS.contentType]) as ReplyEnvelope
        const key = waitKey(reply.aggregateId, reply.commandId)
        const resolve = this.waiting.get(key)
        this.waiting.delete(key)
        resolve?.(reply)
      }
    })
    return this.repliesReady
  }

  async close(): Promise<void> {
    await this.transport.close()
  }
}

/** Replies are matched by both: dedupe is per aggregate, so a commandId alone may name two commands. */
const waitKey = (aggregateId: string, commandId: string) => JSON.stringify([aggregateId, commandId])

function checkId(aggregateId: string): void {
  const problem = checkAggregateId(aggregateId)
  if (problem !== undefined)
    throw new UsageError(
      `aggregateId ${JSON.stringify(aggregateId.slice(0, 100))} would be refused (${problem.code}): ${problem.message}`,
    )
}
