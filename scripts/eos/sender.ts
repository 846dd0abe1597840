/** The verifier's sender: commands interleaved with malformed records, paced, each chunk sent until it is written. */
import type { Kafka } from 'kafkajs'
import { partitionOf } from '../../src/kafka/partitioner.ts'
import type { Topology } from '../../src/topology/loader.ts'
import type { Malformed } from './malformed.ts'
import type { VerifyOptions } from './verify-types.ts'
import { encodeCommand, type Cmd } from './workload.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export interface Sender {
  /** Settles when every chunk is sent (or sending failed for good). */
  sending: Promise<void>
  /** Commands sent so far. */
  sent: () => number
}

/** Sender: commands interleaved with malformed records, paced. */
export function startSender(
  kafka: Kafka,
  topology: Topology,
  cmds: Cmd[],
  malformed: Malformed[],
  o: Pick<VerifyOptions, 'rate' | 'log'>,
): Sender {
  let sent = 0
  const sending = (async () => {
    // Not idempotent: kafkajs' idempotent producer fails for good with OUT_OF_ORDER_SEQUENCE_NUMBER after a
    // leader moves (seen when a broker restarts). A failed chunk is sent again instead; a record written
    // twice is just more input, which the checks judge from the commands topic itself.
    let producer = kafka.producer({ maxInFlightRequests: 1 })
    await producer.connect()
    // kafkajs can also report a send done while it never sent the records of a partition whose leader moved
    // (src/kafka/transactional-producer.ts): partitions are set here and the response must cover each one.
    const partitions = topology.definition.partitions
    const sendChunk = async (
      chunkMessages: {
        key: string | Buffer | null
        value: Buffer | null
        headers?: Record<string, string>
        partition?: number
      }[],
    ) => {
      const messages = chunkMessages.map((m) => ({
        ...m,
        partition: m.partition ?? (m.key === null ? 0 : partitionOf(m.key, partitions)),
      }))
      for (let attempt = 1; ; attempt++) {
        try {
          const meta = await producer.send({ topic: topology.topics.commands, messages, acks: -1 })
          const missing = [...new Set(messages.map((m) => m.partition))].filter(
            (p) => !meta.some((r) => r.partition === p),
          )
          if (missing.length > 0)
            throw new Error(`kafkajs returned no response for partitions ${missing.join(',')}`)
          return
        } catch (e) {
          if (attempt >= 30) throw e
          o.log(`sender: ${(e as Error).message}; sending the chunk again (attempt ${attempt + 1})`)
          await producer.disconnect().catch(() => undefined)
          await sleep(1000)
          producer = kafka.producer({ maxInFlightRequests: 1 })
          await producer.connect().catch(() => undefined)
        }
      }
    }
    const chunk = 500
    const every = malformed.length > 0 ? Math.max(1, Math.floor(cmds.length / malformed.length)) : Infinity
    let m = 0
    for (let i = 0; i < cmds.length; i += chunk) {
      const t0 = Date.now()
      const messages: {
        key: string | Buffer | null
        value: Buffer | null
        headers?: Record<string, string>
      }[] = cmds.slice(i, i + chunk).map(encodeCommand)
      const alone: Malformed[] = []
      while (m < malformed.length && m * every < i + chunk) {
        const bad = malformed[m++]!
        // A large record goes in a request of its own (a partition's batch must stay under message.max.bytes).
        if ((bad.value?.length ?? 0) > 64 * 1024) alone.push(bad)
        else
          messages.push({
            key: bad.key,
            value: bad.value,
            ...(bad.headers ? { headers: bad.headers } : {}),
            ...(bad.partition !== undefined ? { partition: bad.partition } : {}),
          })
      }
      await sendChunk(messages)
      for (const bad of alone) await sendChunk([bad])
      sent = Math.min(i + chunk, cmds.length)
      const wait = (chunk / o.rate) * 1000 - (Date.now() - t0)
      if (wait > 0) await sleep(wait)
    }
    await producer.disconnect()
  })()
  return { sending, sent: () => sent }
}
