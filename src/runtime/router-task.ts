/**
 * Stage 1 of a projection: routes one source events partition into the repartition topic, keyed by view key, so
 * that every view is written by exactly one projection task (stage 2, projection-task.ts) whatever it is keyed by.
 *
 * Per chunk, one transaction: one RoutedEvent per (event, view key), a progress marker to every repartition
 * partition (how far this source partition is routed: read-your-writes), dead letters, and the source offset.
 * The router keeps no local state. A router that resumes from a stale committed offset routes some events again;
 * the projection task drops them by their source position (offset, keyIndex), so each is applied once.
 */
import { encode } from '../domain/codec.ts'
import type { AnyDecider } from '../domain/decider.ts'
import { isReservedKey } from '../domain/envelopes.ts'
import { PROGRESS_MARKER_KEY, type ProgressMarker, type RoutedEvent } from '../domain/projection-records.ts'
import { viewKeysOf, type ProjectedEvent } from '../domain/projection.ts'
import { ViewKeyError } from '../errors.ts'
import type { ProjectionTopology } from '../topology/projection-loader.ts'
import { writeTransaction } from './commit.ts'
import { PartitionTask, type PartitionTaskOptions } from './partition-task.ts'
import type { InputRecord, OutputRecord, Partitioner, TransactionalProducer } from './ports.ts'
import { contentTypeHeader, deadLetterOrStop, readSourceEvent } from './projection-io.ts'
import { describeThrown } from './text.ts'

export interface RouterTaskOptions extends Omit<PartitionTaskOptions, 'maxBatchRecords' | 'id'> {
  projection: ProjectionTopology
  sourceTopic: string
  partitioner: Partitioner
  /** After each commit: events read, records routed, dead letters (metrics). */
  committed?(stats: { events: number; routed: number; deadLettered: number }, seconds: number): void
}

export class RouterTask extends PartitionTask {
  private readonly decider: AnyDecider | undefined

  constructor(private readonly o: RouterTaskOptions) {
    super({
      ...o,
      id: `${o.projection.definition.name}.route(${o.sourceTopic}[${o.partition}])`,
      maxBatchRecords: o.projection.definition.processing.maxBatchEvents,
    })
    this.decider = o.projection.sources.find((s) => s.topic === o.sourceTopic)?.topology?.decider
  }

  protected async openState(): Promise<void> {}
  protected async closeState(): Promise<void> {}
  protected async restoreState(): Promise<bigint> {
    return -1n // no local state: resume at the committed offset
  }

  protected async commitChunk(chunk: readonly InputRecord[], producer: TransactionalProducer): Promise<void> {
    const started = performance.now()
    const { projection: p, sourceTopic } = this.o
    const d = p.definition
    const headers = contentTypeHeader(d.serialization)
    const out: OutputRecord[] = []
    let events = 0
    let deadLettered = 0
    const policy = {
      policy: d.errors.onProjectError === 'stop' ? ('stop' as const) : ('dead-letter' as const),
      topic: sourceTopic,
      deadLetters: p.topics.deadLetters,
      projection: d.name,
      stage: 'route',
    }
    for (const r of chunk) {
      if (r.key !== null && isReservedKey(r.key.toString('utf8'))) continue // a worker's internal record
      events++
      let event: ProjectedEvent
      let keys: string[]
      try {
        event = readSourceEvent(r, this.decider) as ProjectedEvent
        try {
          keys = viewKeysOf(p.projection, event)
        } catch (e) {
          throw e instanceof ViewKeyError
            ? e
            : new ViewKeyError(`key() threw: ${describeThrown(e)}`, { cause: e })
        }
      } catch (e) {
        out.push(deadLetterOrStop(e, r, policy))
        deadLettered++
        continue
      }
      const source = { topic: sourceTopic, partition: r.partition, offset: r.offset.toString() }
      keys.forEach((key, keyIndex) => {
        const routed: RoutedEvent = { source, keyIndex, event }
        out.push({
          topic: p.topics.repartition,
          partition: this.o.partitioner(Buffer.from(key, 'utf8'), d.partitions),
          key,
          value: encode(routed, d.serialization),
          headers,
        })
      })
    }
    const routed = out.length - deadLettered
    const last = chunk[chunk.length - 1]!.offset
    const marker: ProgressMarker = {
      marker: 'progress',
      topic: sourceTopic,
      partition: this.partition,
      offset: last.toString(),
    }
    const markerBytes = encode(marker, d.serialization)
    for (let q = 0; q < d.partitions; q++)
      out.push({
        topic: p.topics.repartition,
        partition: q,
        key: PROGRESS_MARKER_KEY,
        value: markerBytes,
        headers,
      })
    await writeTransaction(producer, out, last + 1n, [])
    this.o.committed?.({ events, routed, deadLettered }, (performance.now() - started) / 1000)
  }
}
