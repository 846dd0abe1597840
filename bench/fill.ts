/**
 * Seeds a topology's changelog straight from the bench (no commands): one snapshot of an open account per aggregate
 * (`agg-<i>`, state { status: 'open', owner, balance: 0 }, version 1), on the partition the default partitioner gives
 * its id (so commands keyed by the id find it), then one input-offset marker per partition. A worker starting on it
 * restores every snapshot. Used by the scale and failover phases.
 */
import type { Kafka, Message } from 'kafkajs'
import { Packr } from 'msgpackr'
import { OFFSET_MARKER_KEY, type OffsetMarker, type SnapshotRecord } from '../src/domain/envelopes.ts'
import { partitionOf } from '../src/kafka/partitioner.ts'
import type { Topology } from '../src/topology/loader.ts'
import { now } from './util.ts'

const packr = new Packr({ useRecords: false, mapsAsObjects: true })

/** The id of seeded aggregate `i`. */
export const seededId = (i: number) => `agg-${i}`

/** Writes `aggregates` snapshots and the markers; returns the records/s of the fill. */
export async function fillChangelog(kafka: Kafka, topology: Topology, aggregates: number): Promise<number> {
  const partitions = topology.definition.partitions
  const producer = kafka.producer()
  await producer.connect()
  try {
    const headers = { 'content-type': 'application/msgpack' }
    const fillStart = now()
    const chunk = 10_000
    const pending = new Set<Promise<unknown>>()
    for (let i = 0; i < aggregates; i += chunk) {
      const messages: Message[] = []
      for (let j = i; j < Math.min(aggregates, i + chunk); j++) {
        const aggregateId = seededId(j)
        const snapshot: SnapshotRecord = {
          aggregateId,
          version: 1,
          state: { status: 'open', owner: `owner ${j}`, balance: 0 },
          recent: [
            { commandId: `create-${j}`, status: 'accepted', version: 1, events: [['AccountCreated', 1]] },
          ],
          sourceOffset: '0',
        }
        messages.push({
          key: aggregateId,
          value: packr.pack(snapshot),
          headers,
          partition: partitionOf(aggregateId, partitions),
        })
      }
      const p = producer.send({ topic: topology.topics.changelog, messages }).finally(() => pending.delete(p))
      pending.add(p)
      if (pending.size >= 4) await Promise.race(pending)
    }
    await Promise.all(pending)
    const marker: OffsetMarker = { marker: 'input-offset', inputOffset: '-1' }
    await producer.send({
      topic: topology.topics.changelog,
      messages: Array.from({ length: partitions }, (_, p) => ({
        key: OFFSET_MARKER_KEY,
        value: packr.pack(marker),
        headers,
        partition: p,
      })),
    })
    return aggregates / ((now() - fillStart) / 1000)
  } finally {
    await producer.disconnect()
  }
}
