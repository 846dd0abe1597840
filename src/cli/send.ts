import { readFileSync } from 'node:fs'
import { loadWorkerConfig } from '../config/worker-config.ts'
import { ConfigError } from '../domain/errors.ts'
import { CommandClient } from '../client/command-client.ts'
import { createKafka } from '../kafka/client.ts'
import { loadTopology } from '../topology/loader.ts'
import pino from 'pino'

export interface SendCliOptions {
  type: string
  id: string
  payload: string
  commandId?: string
  expectedVersion?: string
  wait?: boolean
  timeout: string
  config?: string
}

/** `decider send`: one command; with --wait, prints the reply. Exit 0 accepted/duplicate, 1 otherwise. */
export async function sendCommand(file: string, o: SendCliOptions): Promise<number> {
  let payload: unknown
  try {
    payload = JSON.parse(o.payload.startsWith('@') ? readFileSync(o.payload.slice(1), 'utf8') : o.payload)
  } catch (e) {
    throw new ConfigError(`--payload is not valid JSON (${(e as Error).message}); e.g. --payload '{"amount": 100}'`)
  }
  const topology = await loadTopology(file)
  const config = await loadWorkerConfig(o.config)
  const kafka = createKafka(config.kafka, `${config.kafka.clientId}-cli`, pino({ level: 'silent' }))
  const client = new CommandClient({ kafka, commandsTopic: topology.topics.commands, repliesTopic: topology.topics.replies, serialization: topology.definition.serialization })
  try {
    const cmd = {
      aggregateId: o.id,
      type: o.type,
      payload,
      ...(o.commandId ? { commandId: o.commandId } : {}),
      ...(o.expectedVersion !== undefined ? { expectedVersion: Number(o.expectedVersion) } : {}),
    }
    if (!o.wait) {
      console.log(JSON.stringify({ commandId: await client.send(cmd) }))
      return 0
    }
    const reply = await client.sendAndWait(cmd, Number(o.timeout))
    console.log(JSON.stringify(reply, null, 2))
    return reply.status === 'accepted' || reply.status === 'duplicate' ? 0 : 1
  } finally {
    await client.close()
  }
}
