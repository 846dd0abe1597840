/**
 * Check (i) of the exactly-once verifier: every LevelDB snapshot store a worker left (active tasks', standby
 * replicas', killed workers' included) equals what the committed changelog implies at the store's checkpoint: for
 * each aggregate of the partition, the store holds exactly the last committed snapshot below the checkpoint's
 * changelog offset, and nothing else. A standby that copied a record twice, skipped one, or took one of an aborted
 * transaction fails it.
 */
import { isDeepStrictEqual } from 'node:util'
import type { Kafka } from 'kafkajs'
import { decode } from '../../src/domain/codec.ts'
import { isReservedKey, type SnapshotRecord } from '../../src/domain/envelopes.ts'
import { withOutcomes } from '../../src/domain/outcome-codec.ts'
import type { Topology } from '../../src/topology/loader.ts'
import { readTopic, type Rec } from './read-topic.ts'
import { forEachStore } from './stores.ts'

export interface SnapshotCheck {
  problems: string[]
  /** Stores compared (with a checkpoint). */
  stores: number
  /** Partitions with a store on more than one worker (a standby or a former owner's). */
  replicatedPartitions: number
}

export async function verifySnapshotStores(
  kafka: Kafka,
  t: Topology,
  dir: string,
  workers: number,
): Promise<SnapshotCheck> {
  const records = await readTopic(kafka, t.topics.changelog, { raw: true })
  const byPartition = new Map<number, Rec[]>()
  for (const r of records) byPartition.set(r.partition, [...(byPartition.get(r.partition) ?? []), r])
  const problems: string[] = []
  const holders = new Map<number, number>()
  let stores = 0
  await forEachStore(t, dir, workers, 'snapshots', problems, async (store, p, storeDir) => {
    const end = (await store.readCheckpoint())?.changelogOffset
    if (end === undefined) return
    stores++
    holders.set(p, (holders.get(p) ?? 0) + 1)
    const expected = new Map<string, unknown>()
    for (const r of byPartition.get(p) ?? []) {
      if (BigInt(r.offset) >= end || r.key === null || isReservedKey(r.key) || r.value === null) continue
      // Decoded as the store's entries are (compact outcomes as objects: outcome-codec.ts).
      expected.set(r.key, withOutcomes(decode(r.value as Buffer) as SnapshotRecord))
    }
    let found = 0
    for await (const s of store.entries()) {
      found++
      const want = expected.get(s.aggregateId)
      if (want === undefined)
        problems.push(`snapshots ${storeDir}: ${s.aggregateId} is not in the changelog below ${end}`)
      else if (!isDeepStrictEqual(s, want))
        problems.push(
          `snapshots ${storeDir}: ${s.aggregateId} v${s.version} differs from the changelog's last snapshot below ${end} (v${(want as { version: number }).version})`,
        )
    }
    if (found !== expected.size)
      problems.push(
        `snapshots ${storeDir}: ${found} aggregates, the changelog below ${end} has ${expected.size}`,
      )
  })
  return { problems, stores, replicatedPartitions: [...holders.values()].filter((n) => n > 1).length }
}
