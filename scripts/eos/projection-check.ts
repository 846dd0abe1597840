/**
 * Check (h) of the exactly-once verifier: a projection's views equal what the committed events imply.
 * - The views changelog (last record per key) == projectAll over every committed event (the model).
 * - Every view store a worker left (killed ones included) == the model restricted to its partition's keys and to
 *   the source positions its checkpoint claims: for each source event at (partition, offset) with view keys
 *   k0..kn, key i is included iff (offset, i) <= the store's position for that source partition. So a store is
 *   exactly a prefix of the log: nothing missing, nothing applied twice.
 * The verifier's projection (PROJECTOR) fans out to three keys per event, two of them not the aggregate: routed.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import type { Kafka } from 'kafkajs'
import { isReservedKey } from '../../src/domain/envelopes.ts'
import { sourceId } from '../../src/domain/projection-records.ts'
import { applyToView, projectAll, viewKeysOf, type ProjectedEvent } from '../../src/domain/projection.ts'
import { partitionOf } from '../../src/kafka/partitioner.ts'
import { LevelViewStore } from '../../src/state/view-store.ts'
import type { ProjectionTopology } from '../../src/topology/projection-loader.ts'
import { readTopic } from './read-topic.ts'

/**
 * Three views per event: its type's and its bucket's count and sum, and its account's count and last version (an
 * event applied twice or missed shows in a count, and in an account's count != its last version). Small views:
 * the long verifier run writes hundreds of thousands of them.
 */
export const PROJECTOR = `
export default {
  initialState: () => ({ events: 0, amount: 0 }),
  key: (e) => [e.type, 'bucket-' + (e.aggregateId.length % 3), 'account:' + e.aggregateId],
  project: (v, e, key) => ({
    events: v.events + 1,
    amount: v.amount + (typeof e.payload.amount === 'number' ? e.payload.amount : 0),
    ...(key.startsWith('account:') ? { lastVersion: Math.max(v.lastVersion ?? 0, e.version) } : {}),
  }),
}
`

/** Writes the verifier's projection over `bankFile` (module + topology file) and returns the topology file. */
export function writeProjection(dir: string, name: string, bankFile: string, partitions = 4): string {
  writeFileSync(path.join(dir, `${name}.mjs`), PROJECTOR)
  const file = path.join(dir, `${name}.yaml`)
  writeFileSync(
    file,
    `kind: projection\nname: ${name}\nprojection: ./${name}.mjs\nsources:\n  - topology: ./${path.basename(bankFile)}\npartitions: ${partitions}\nprocessing:\n  maxBatchEvents: 200\n  purgeEvery: 100\n`,
  )
  return file
}

interface SourceEvent {
  topic: string
  partition: number
  offset: bigint
  event: ProjectedEvent
}

async function sourceEvents(kafka: Kafka, p: ProjectionTopology): Promise<SourceEvent[]> {
  const out: SourceEvent[] = []
  for (const s of p.sources) {
    const recs = (await readTopic(kafka, s.topic)).filter((r) => r.key !== null && r.value !== null)
    recs.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))
    for (const r of recs)
      out.push({
        topic: s.topic,
        partition: r.partition,
        offset: BigInt(r.offset),
        event: r.value as ProjectedEvent,
      })
  }
  return out
}

/** The model: projectAll over the committed source events, in each partition's order. */
export async function expectedViews(kafka: Kafka, p: ProjectionTopology): Promise<Map<string, unknown>> {
  return projectAll(
    p.projection,
    (await sourceEvents(kafka, p)).map((e) => e.event),
  )
}

/** The views on the changelog topic: the last record of each key (null: deleted). */
export async function changelogViews(kafka: Kafka, topic: string): Promise<Map<string, unknown>> {
  const views = new Map<string, unknown>()
  for (const r of await readTopic(kafka, topic)) {
    if (r.key === null || isReservedKey(r.key)) continue
    if (r.value === null) views.delete(r.key)
    else views.set(r.key, r.value)
  }
  return views
}

export const sortedEntries = (m: Map<string, unknown>) =>
  [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

export interface ProjectionCheck {
  problems: string[]
  views: number
  storesChecked: number
}

export async function verifyProjection(
  kafka: Kafka,
  p: ProjectionTopology,
  dir: string,
  workers: number,
): Promise<ProjectionCheck> {
  const problems: string[] = []
  const events = await sourceEvents(kafka, p)
  const model = projectAll(
    p.projection,
    events.map((e) => e.event),
  )
  const onTopic = await changelogViews(kafka, p.topics.changelog)
  if (!isDeepStrictEqual(sortedEntries(onTopic), sortedEntries(model))) {
    const differ = [...new Set([...model.keys(), ...onTopic.keys()])].filter(
      (k) => !isDeepStrictEqual(model.get(k), onTopic.get(k)),
    )
    problems.push(
      `projection ${p.definition.name}: ${differ.length} view(s) on the changelog differ from the model, e.g. ${differ.slice(0, 3).join(', ')}`,
    )
  }
  const n = p.definition.partitions
  let storesChecked = 0
  for (let w = 0; w < workers; w++) {
    for (let q = 0; q < n; q++) {
      const storeDir = path.join(dir, `state-${w}`, p.definition.name, String(q))
      let store: LevelViewStore
      try {
        store = await LevelViewStore.open(storeDir, {
          projection: p.definition.name,
          changelogTopic: p.topics.changelog,
          partition: q,
        })
      } catch (e) {
        problems.push(`projection store ${storeDir}: cannot open (${(e as Error).message})`)
        continue
      }
      try {
        const c = await store.readCheckpoint()
        if (c === undefined) continue // never committed
        storesChecked++
        const expected = new Map<string, unknown>()
        for (const e of events) {
          const pos = c.sources.get(sourceId(e.topic, e.partition))
          if (pos === undefined || e.offset > pos.offset) continue
          viewKeysOf(p.projection, e.event).forEach((key, i) => {
            if (e.offset === pos.offset && i > pos.keyIndex) return
            if (partitionOf(Buffer.from(key, 'utf8'), n) !== q) return
            const next = applyToView(p.projection, expected.get(key) as never, e.event, key)
            if (next === null) expected.delete(key)
            else if (next !== undefined) expected.set(key, next)
          })
        }
        const got = new Map<string, unknown>()
        for await (const { key, view } of store.entries()) got.set(key, view)
        if (!isDeepStrictEqual(sortedEntries(got), sortedEntries(expected)))
          problems.push(
            `projection store ${storeDir}: ${got.size} view(s), the log up to its positions implies ${expected.size}; differing: ${[
              ...new Set([...got.keys(), ...expected.keys()]),
            ]
              .filter((k) => !isDeepStrictEqual(got.get(k), expected.get(k)))
              .slice(0, 3)
              .join(', ')}`,
          )
      } finally {
        await store.close()
      }
    }
  }
  return { problems, views: model.size, storesChecked }
}
