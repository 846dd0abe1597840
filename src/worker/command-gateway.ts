/**
 * The CommandSender behind POST /commands/<topology> (src/http/commands.ts): one CommandClient per topology, made on
 * the first command, so the HTTP front door takes exactly the Kafka path other services take (same partitioner,
 * same envelope, the reply read read_committed). Its reply listener joins a consumer group of its own the first
 * time; that wait counts against the request's timeout.
 */
import type { Logger } from 'pino'
import { CommandClient } from '../client/command-client.ts'
import type { WorkerConfig } from '../config/worker-config.ts'
import { ReplyTimeoutError } from '../errors.ts'
import type { CommandRequest, CommandSender } from '../http/commands.ts'
import type { CommandReplayer } from '../http/dead-letters.ts'
import { createKafka } from '../kafka/client.ts'
import type { Topology } from '../topology/loader.ts'

export class CommandGateway {
  private readonly clients = new Map<string, CommandClient>()

  constructor(
    private readonly topologies: readonly Topology[],
    private readonly config: WorkerConfig,
    private readonly logger: Logger,
  ) {}

  readonly send: CommandSender = async (name, cmd, timeoutMs) => {
    const deadline = Date.now() + timeoutMs
    const client = this.client(name)
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new ReplyTimeoutError(
              `not listening for replies within ${timeoutMs} ms (the first command of a topology waits for its reply listener to join); nothing was sent`,
            ),
          ),
        timeoutMs,
      )
    })
    try {
      await Promise.race([client.ready(), late])
    } finally {
      clearTimeout(timer)
    }
    return client.sendAndWait(request(cmd), Math.max(1, deadline - Date.now()))
  }

  /**
   * A dead letter replayed (src/http/dead-letters.ts): its record written as it was to the commands topic (by its
   * key's partition), and with `wait`, its reply.
   */
  readonly replay: CommandReplayer = async (name, record, wait) => {
    const client = this.client(name)
    const topic = this.topologies.find((t) => t.definition.name === name)!.topics.commands
    const message = { key: record.key, value: record.value, headers: record.headers }
    if (wait === undefined) {
      const [at] = await client.sendRaw([message])
      if (at === undefined) throw new Error(`the broker did not say where the record to ${topic} went`)
      return { sentTo: { topic, ...at } }
    }
    let sentTo: { topic: string; partition: number; offset: string } | undefined
    try {
      const reply = await client.sendRawAndWait(
        message,
        { aggregateId: wait.aggregateId, commandId: wait.commandId },
        wait.timeoutMs,
        (at) => (sentTo = { topic, ...at }),
      )
      if (sentTo === undefined) throw new Error(`the broker did not say where the record to ${topic} went`)
      return { sentTo, reply }
    } catch (e) {
      // Written but not answered in time: the replay happened; the reply is simply not known here.
      if (e instanceof ReplyTimeoutError && sentTo !== undefined) return { sentTo }
      throw e
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.clients.values()].map((c) => c.close()))
    this.clients.clear()
  }

  private client(name: string): CommandClient {
    let client = this.clients.get(name)
    if (client !== undefined) return client
    const topology = this.topologies.find((t) => t.definition.name === name)
    if (topology === undefined) throw new Error(`no topology ${name}`) // the route checks it first
    const kafka = createKafka(this.config.kafka, `${this.config.kafka.clientId}-http-${name}`, this.logger)
    client = new CommandClient({
      kafka,
      commandsTopic: topology.topics.commands,
      repliesTopic: topology.topics.replies,
      serialization: topology.definition.serialization,
    })
    this.clients.set(name, client)
    return client
  }
}

function request(cmd: CommandRequest) {
  return {
    aggregateId: cmd.aggregateId,
    type: cmd.type,
    payload: cmd.payload,
    commandId: cmd.commandId,
    ...(cmd.expectedVersion !== undefined ? { expectedVersion: cmd.expectedVersion } : {}),
    ...(cmd.metadata !== undefined ? { metadata: cmd.metadata } : {}),
  }
}
