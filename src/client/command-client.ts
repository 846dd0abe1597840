/**
 * CommandClient: for other Node services. send() writes a command envelope keyed by aggregateId with
 * kafkajs' default (Java-compatible murmur2) partitioner, so every client routes an aggregate to the same
 * partition. sendAndWait() also awaits the reply, read read_committed from the replies topic, matched by
 * (aggregateId, commandId): dedupe is per aggregate, so one commandId may be in use on two aggregates. And by
 * the command record it answers: a commandId sent again (a retry after a timeout, another client) has two
 * replies, and the earlier one may still be on its way; each reply names its command record (kd-source-partition,
 * kd-source-offset headers), and the wait takes only the one naming the record its send wrote. Kafka is
 * reached through a CommandTransport (./transport.ts): the kafkajs one over the `kafka` or `kafkaConfig` option, or
 * your own.
 */
import { randomUUID } from 'node:crypto'
import pino from 'pino'
import type { KafkaClientConfig } from '../config/kafka-config.ts'
import { CONTENT_TYPES, decode, encode, type Serialization } from '../domain/codec.ts'
import { checkAggregateId, HEADERS, type CommandEnvelope, type ReplyEnvelope } from '../domain/envelopes.ts'
import { ReplyTimeoutError, UsageError } from '../errors.ts'
import { createKafka, type KafkaConnection } from '../kafka/client.ts'
import { KafkaCommandTransport } from '../kafka/command-transport.ts'
import type { CommandRecord, CommandTransport, ReplyRecord, SentRecord } from './transport.ts'

export interface CommandClientOptions {
  /**
   * A kafkajs `Kafka` client: the client then talks to Kafka over it, with whatever ssl/sasl it was built with. Give
   * this, `kafkaConfig` or `transport`.
   */
  kafka?: KafkaConnection
  /**
   * The `kafka` section of a worker config, as `loadWorkerConfig(file)` resolves it (brokers, TLS files, SASL with the
   * password from the environment or a password file): the client builds its Kafka connection from it like the worker
   * and the CLI do, and a wrong password or an untrusted certificate fails the first send or wait at once with a
   * KafkaAuthenticationError or KafkaTlsError instead of being retried.
   */
  kafkaConfig?: KafkaClientConfig
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

export type { CommandRecord, CommandTransport, ReplyRecord, SentRecord }
export { ReplyTimeoutError }

/** A sendAndWait waiting for its reply. */
interface Wait {
  /**
   * Where its command record was written: undefined until its send resolved; null when the transport did not say
   * (then any reply for the (aggregateId, commandId) will do).
   */
  at: SentRecord | null | undefined
  /** Replies for its (aggregateId, commandId) heard before `at` was known: checked once it is. */
  early: { reply: ReplyEnvelope; source: SentRecord }[]
  /** Stops waiting (the timer) and resolves the call. */
  resolve(reply: ReplyEnvelope): void
}

export class CommandClient {
  private readonly transport: CommandTransport
  /** Callers of sendAndWait by waitKey(aggregateId, commandId), at most one each. */
  private readonly waiting = new Map<string, Wait>()
  private repliesReady: Promise<void> | undefined

  constructor(private readonly o: CommandClientOptions) {
    if ([o.kafka, o.kafkaConfig, o.transport].filter((x) => x !== undefined).length !== 1) {
      throw new UsageError(
        'CommandClient needs one of `kafka` (a kafkajs Kafka client), `kafkaConfig` (the kafka section of a worker config) or `transport`',
      )
    }
    const kafka =
      o.kafka ??
      (o.kafkaConfig !== undefined
        ? createKafka(o.kafkaConfig, `${o.kafkaConfig.clientId}-client`, pino({ level: 'silent' }))
        : undefined)
    this.transport =
      o.transport ??
      new KafkaCommandTransport(kafka!, { commandsTopic: o.commandsTopic, repliesTopic: o.repliesTopic })
  }

  /**
   * Sends one command; returns its commandId. An aggregateId the worker would refuse (empty, reserved, not
   * encodable as UTF-8, above MAX_AGGREGATE_ID_BYTES) is a UsageError here, and nothing is sent.
   */
  async send(cmd: SendOptions): Promise<string> {
    checkId(cmd.aggregateId)
    const commandId = cmd.commandId ?? randomUUID()
    await this.sendCommand(cmd, commandId)
    return commandId
  }

  /** Writes the command; resolves with where it was written (undefined when the transport does not say). */
  private async sendCommand(cmd: SendOptions, commandId: string): Promise<SentRecord | undefined> {
    const serialization = this.o.serialization ?? 'msgpack'
    const envelope: CommandEnvelope = {
      commandId,
      type: cmd.type,
      payload: cmd.payload,
      ...(cmd.expectedVersion !== undefined ? { expectedVersion: cmd.expectedVersion } : {}),
      metadata: { issuedAt: new Date().toISOString(), ...cmd.metadata },
    }
    const sent = await this.sendRaw([
      {
        key: cmd.aggregateId,
        value: encode(envelope, serialization),
        headers: { [HEADERS.contentType]: CONTENT_TYPES[serialization] },
      },
    ])
    // A transport written before send() resolved with positions resolves with nothing.
    return (sent as SentRecord[] | undefined)?.[0]
  }

  /**
   * Sends pre-encoded records to the commands topic (bulk loads, tests of malformed input), each keyed
   * record to its key's partition; resolves with where each was written, in order.
   */
  async sendRaw(messages: CommandRecord[]): Promise<SentRecord[]> {
    return this.transport.send(messages)
  }

  /**
   * Sends one command and resolves with its reply: the one with its aggregateId and commandId that names, in its
   * kd-source-partition and kd-source-offset headers, the record this call wrote. A reply naming another record
   * (the answer to an earlier send of the same commandId, by this client or another) is passed over, even when
   * it arrives before the send resolved; a reply without these headers (written by a worker older than them) is
   * taken, as before they existed. Rejects with ReplyTimeoutError after timeoutMs. While a call waits for
   * (aggregateId, commandId), another call for the same pair is refused with a UsageError and not sent (await
   * the first; once it is answered, the same command may be sent again and gets the worker's `duplicate` reply).
   */
  async sendAndWait(cmd: SendOptions, timeoutMs = this.o.timeoutMs ?? 30_000): Promise<ReplyEnvelope> {
    checkId(cmd.aggregateId)
    const commandId = cmd.commandId ?? randomUUID()
    return this.waitForReply(cmd.aggregateId, commandId, () => this.sendCommand(cmd, commandId), timeoutMs)
  }

  /**
   * Sends one pre-encoded command record (a dead letter replayed as it was) and resolves with its reply, matched
   * as sendAndWait matches it: by (aggregateId, commandId) and the position the send wrote. `onSent` learns where.
   */
  async sendRawAndWait(
    record: CommandRecord,
    ids: { aggregateId: string; commandId: string },
    timeoutMs = this.o.timeoutMs ?? 30_000,
    onSent?: (at: SentRecord) => void,
  ): Promise<ReplyEnvelope> {
    return this.waitForReply(
      ids.aggregateId,
      ids.commandId,
      async () => {
        const at = ((await this.sendRaw([record])) as SentRecord[] | undefined)?.[0]
        if (at !== undefined) onSent?.(at)
        return at
      },
      timeoutMs,
    )
  }

  private async waitForReply(
    aggregateId: string,
    commandId: string,
    send: () => Promise<SentRecord | undefined>,
    timeoutMs: number,
  ): Promise<ReplyEnvelope> {
    await this.listenForReplies()
    const key = waitKey(aggregateId, commandId)
    if (this.waiting.has(key)) {
      throw new UsageError(
        `already waiting for the reply to command ${commandId} on aggregate ${aggregateId}: await that call, or use another commandId`,
      )
    }
    let timer: NodeJS.Timeout | undefined
    let wait!: Wait
    let fail!: (e: unknown) => void
    const reply = new Promise<ReplyEnvelope>((resolve, reject) => {
      timer = setTimeout(() => {
        this.waiting.delete(key)
        reject(
          new ReplyTimeoutError(
            `no reply to command ${commandId} within ${timeoutMs} ms: is a worker running for ${this.o.commandsTopic}?`,
          ),
        )
      }, timeoutMs)
      wait = {
        at: undefined,
        early: [],
        resolve: (r) => {
          clearTimeout(timer)
          this.waiting.delete(key)
          resolve(r)
        },
      }
      fail = (e) => {
        clearTimeout(timer)
        this.waiting.delete(key)
        reject(e)
      }
      this.waiting.set(key, wait)
    })
    // The send runs alongside the wait: the timeout counts from now, whether or not the send has resolved (a
    // send still retrying then goes on, unheard). What the send says matters only while this call still waits.
    send().then(
      (at) => {
        if (this.waiting.get(key) === wait) this.located(wait, at ?? null)
      },
      (e: unknown) => {
        // Not sent: stop waiting now, so the caller can retry the same command at once.
        if (this.waiting.get(key) === wait) fail(e)
      },
    )
    return reply
  }

  /**
   * The wait's send resolved: from now on replies are checked against where it wrote (`at`); those heard before
   * are checked now, and the others dropped.
   */
  private located(wait: Wait, at: SentRecord | null): void {
    wait.at = at
    const early = wait.early
    wait.early = []
    for (const e of early) {
      if (at === null || samePosition(e.source, at)) {
        wait.resolve(e.reply)
        return
      }
    }
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
        const wait = this.waiting.get(waitKey(reply.aggregateId, reply.commandId))
        if (wait === undefined) continue
        const source = sourceOf(record.headers)
        // No source headers: written by an older worker; taken as the answer, as before they existed.
        if (source === undefined || wait.at === null) wait.resolve(reply)
        else if (wait.at === undefined) wait.early.push({ reply, source })
        else if (samePosition(source, wait.at)) wait.resolve(reply)
        // else: the reply to another record with this commandId (an earlier send): not this call's.
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

/** The command record a reply answers, from its kd-source-* headers; undefined when it has none (or no valid ones). */
function sourceOf(headers: Record<string, string>): SentRecord | undefined {
  const partition = headers[HEADERS.sourcePartition]
  const offset = headers[HEADERS.sourceOffset]
  if (partition === undefined || offset === undefined) return undefined
  if (!/^\d+$/.test(partition) || !/^\d+$/.test(offset)) return undefined
  return { partition: Number(partition), offset }
}

/** Offsets in decimal as the worker writes them (a bigint's toString) and the transport reports them. */
const samePosition = (a: SentRecord, b: SentRecord) => a.partition === b.partition && a.offset === b.offset

function checkId(aggregateId: string): void {
  const problem = checkAggregateId(aggregateId)
  if (problem !== undefined)
    throw new UsageError(
      `aggregateId ${JSON.stringify(aggregateId.slice(0, 100))} would be refused (${problem.code}): ${problem.message}`,
    )
}
