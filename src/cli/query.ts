/** `decider state` (the committed snapshot in the local store) and `decider events` (the events topic). */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { decode } from '../domain/codec.ts'
import type { EventEnvelope, SnapshotRecord } from '../domain/envelopes.ts'
import { KafkaChangelogReader } from '../kafka/changelog-reader.ts'
import { LevelSnapshotStore } from '../state/level-store.ts'
import { loadTopology, type Topology } from '../topology/loader.ts'
import { cliConfig, cliKafka, quietLogger, withAdmin } from './common.ts'
import { partitionOf } from './partitioner.ts'

export function storeDir(stateDir: string, topology: Topology, partition: number): string {
  return path.join(stateDir, topology.definition.name, String(partition))
}

/**
 * Opens a partition's store for the CLI. LevelDB allows one process per store: while another process holds it
 * (a running worker, another CLI) this retries for up to `waitMs`, then fails saying who to stop.
 */
export async function openStore(stateDir: string, topology: Topology, partition: number, waitMs = 5_000): Promise<LevelSnapshotStore> {
  const dir = storeDir(stateDir, topology, partition)
  const deadline = Date.now() + waitMs
  for (;;) {
    try {
      return await LevelSnapshotStore.open(dir, {
        topology: topology.definition.name,
        changelogTopic: topology.topics.changelog,
        partition,
      })
    } catch (e) {
      if (!isLocked(e)) throw e
      if (Date.now() >= deadline) {
        throw new StoreInUseError(
          `the snapshot store at ${dir} is in use by another process (a worker running with this stateDir?) for more than ${waitMs} ms; ` +
            `stop it, or read the aggregate with \`decider events\` instead`,
          { cause: e },
        )
      }
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

/** The store stayed locked by another process; printed as a one-line error (exit 1). */
export class StoreInUseError extends Error {
  override name = 'StoreInUseError'
}

function isLocked(e: unknown): boolean {
  for (let c: unknown = e; c instanceof Error; c = c.cause) {
    if ((c as { code?: string }).code === 'LEVEL_LOCKED') return true
  }
  return false
}

/** The committed snapshot of an aggregate from the local LevelDB stores under the state dir. */
export async function stateCommand(file: string, aggregateId: string, o: { config?: string; stateDir?: string }): Promise<number> {
  const topology = await loadTopology(file)
  const stateDir = o.stateDir ?? (await cliConfig(o.config)).stateDir
  const n = topology.definition.partitions
  const home = partitionOf(aggregateId, n)
  // Its own partition first; then every other partition store present (e.g. the partition count changed).
  const order = [home, ...Array.from({ length: n }, (_, i) => i).filter((p) => p !== home)]
  const present = order.filter((p) => existsSync(storeDir(stateDir, topology, p)))
  if (present.length === 0) {
    console.error(`no snapshot store of topology ${topology.definition.name} under ${path.resolve(stateDir)} (run a worker with this stateDir, or pass --state-dir)`)
    return 1
  }
  for (const p of present) {
    const store = await openStore(stateDir, topology, p)
    try {
      const [snapshot] = await store.getMany([aggregateId])
      if (snapshot !== undefined) {
        console.log(JSON.stringify({ partition: p, ...(snapshot satisfies SnapshotRecord) }, null, 2))
        return 0
      }
    } finally {
      await store.close()
    }
  }
  console.error(`aggregate ${aggregateId}: no snapshot in the stores of partitions ${present.join(', ')} under ${path.resolve(stateDir)} (expected in partition ${home})`)
  return 1
}

/** Reads one partition of a topic [0, high watermark) read_committed; calls onRecord per record. */
export async function scanPartition(
  topology: Topology,
  kafka: ReturnType<typeof cliKafka>,
  topic: string,
  partition: number,
  onRecords: (records: { offset: string; key: string | null; value: Buffer | null }[]) => Promise<void> | void,
  timeoutMs = 120_000,
): Promise<void> {
  await withAdmin(kafka, async (admin) => {
    const reader = new KafkaChangelogReader(kafka, admin, topic, partition, `${topology.applicationId}-cli`, quietLogger)
    const end = await reader.endOffset()
    await reader.read('0', end, async (chunk) => void (await onRecords(chunk)), timeoutMs)
  })
}

/** The aggregate's events from the events topic partition (read_committed), one JSON per line. */
export async function eventsCommand(file: string, aggregateId: string, o: { config?: string; timeout: string }): Promise<number> {
  const topology = await loadTopology(file)
  const kafka = cliKafka(await cliConfig(o.config))
  const p = partitionOf(aggregateId, topology.definition.partitions)
  const events: EventEnvelope[] = []
  await scanPartition(
    topology,
    kafka,
    topology.topics.events,
    p,
    (chunk) => {
      for (const r of chunk) if (r.key === aggregateId && r.value !== null) events.push(decode(r.value) as EventEnvelope)
    },
    Number(o.timeout),
  )
  for (const e of events.sort((a, b) => a.version - b.version)) console.log(JSON.stringify(e))
  if (events.length === 0) {
    console.error(`aggregate ${aggregateId}: no events in ${topology.topics.events}[${p}]`)
    return 1
  }
  console.error(`${events.length} event(s) of ${aggregateId} in ${topology.topics.events}[${p}]`)
  return 0
}
