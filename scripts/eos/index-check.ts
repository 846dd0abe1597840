/**
 * Check (g) of the exactly-once verifier: every LevelDB event index equals the events topic. For each store a
 * worker left (killed ones included), its checkpoint's eventsOffset says how far it got; the index must hold
 * exactly the committed events of its partition below that offset, byte for byte and at their offsets (read
 * per aggregate with store.events(), the read the HTTP API and the CLI use, and in commit order with
 * store.eventsFrom()). And for each partition some store (its last owner's, after the clean stop) indexed all.
 */
import path from 'node:path'
import type { Kafka } from 'kafkajs'
import { LevelSnapshotStore } from '../../src/state/level-store.ts'
import type { Topology } from '../../src/topology/loader.ts'
import { readTopic, type Rec } from './read-topic.ts'

export interface IndexCheck {
  problems: string[]
  /** Events compared per aggregate, over all stores. */
  indexedEvents: number
}

export async function verifyIndexes(
  kafka: Kafka,
  t: Topology,
  dir: string,
  workers: number,
): Promise<IndexCheck> {
  const records = await readTopic(kafka, t.topics.events, { raw: true })
  const byPartition = new Map<number, Rec[]>()
  for (const r of records) byPartition.set(r.partition, [...(byPartition.get(r.partition) ?? []), r])
  const problems: string[] = []
  const covered = new Map<number, bigint>()
  let indexedEvents = 0
  for (let w = 0; w < workers; w++) {
    for (let p = 0; p < t.definition.partitions; p++) {
      const storeDir = path.join(dir, `state-${w}`, t.definition.name, String(p))
      let store: LevelSnapshotStore
      try {
        store = await LevelSnapshotStore.open(storeDir, {
          topology: t.definition.name,
          changelogTopic: t.topics.changelog,
          partition: p,
        })
      } catch (e) {
        problems.push(`index ${storeDir}: cannot open (${(e as Error).message})`)
        continue
      }
      try {
        const end = (await store.readCheckpoint())?.eventsOffset
        if (end === undefined) continue // never initialised (no checkpoint yet)
        if (end > (covered.get(p) ?? -1n)) covered.set(p, end)
        const expected = (byPartition.get(p) ?? []).filter((r) => BigInt(r.offset) < end)
        const byAggregate = new Map<string, Rec[]>()
        for (const r of expected) byAggregate.set(r.key!, [...(byAggregate.get(r.key!) ?? []), r])
        for (const [id, list] of byAggregate) {
          const got = await store.events(id)
          indexedEvents += got.length
          const same =
            got.length === list.length &&
            got.every(
              (e, i) => e.offset === BigInt(list[i]!.offset) && e.value.equals(list[i]!.value as Buffer),
            )
          if (!same)
            problems.push(
              `index ${storeDir}: ${id} has ${got.length} event(s) at offsets [${got.map((e) => e.offset).join(',')}], the events topic below ${end} has ${list.length} at [${list.map((r) => r.offset).join(',')}]`,
            )
        }
        const all = await store.eventsFrom(0n, Number.MAX_SAFE_INTEGER)
        if (all.length !== expected.length || all.some((e, i) => e.offset !== BigInt(expected[i]!.offset)))
          problems.push(
            `index ${storeDir}: ${all.length} entries in commit order, the events topic below ${end} has ${expected.length}`,
          )
      } finally {
        await store.close()
      }
    }
  }
  for (const [p, list] of byPartition) {
    const last = BigInt(list[list.length - 1]!.offset)
    if ((covered.get(p) ?? -1n) <= last)
      problems.push(
        `index of partition ${p}: no store indexed up to its last event (offset ${last}; best ${covered.get(p) ?? 'none'})`,
      )
  }
  return { problems, indexedEvents }
}
