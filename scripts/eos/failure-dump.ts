/** What the verifier leaves for a failed run: the output topics as TSV (uncommitted, with markers) and the worker logs. */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import type { Kafka } from 'kafkajs'
import type { Topology } from '../../src/topology/loader.ts'
import { readTopic } from './read-topic.ts'

export async function writeFailureDump(
  kafka: Kafka,
  topology: Topology,
  dir: string,
  outputs: string[],
  o: { log: (msg: string) => void },
): Promise<void> {
  for (const t of [topology.topics.replies, topology.topics.events, topology.topics.changelog]) {
    const all = await readTopic(kafka, t, { readUncommitted: true, withControl: true })
    const lines = all.map((r) => {
      const v = r.value as {
        commandId?: string
        eventId?: string
        status?: string
        version?: number
      } | null
      return `${r.partition}\t${r.offset}\t${r.producerId}/${r.epoch}\t${r.control ?? ''}\t${r.key ?? ''}\t${v?.commandId ?? ''}\t${v?.status ?? v?.eventId ?? v?.version ?? ''}`
    })
    writeFileSync(path.join(dir, `${t}.tsv`), lines.join('\n') + '\n')
  }
  outputs.forEach((out, i) => writeFileSync(path.join(dir, `worker-${i}.log`), out))
  o.log(`worker logs: ${dir}/worker-*.log`)
}
