/**
 * What the TopologyTestDriver reads back from its MemoryLog: committed (read_committed) replies, events, dead
 * letters and changelog snapshots, and the fold of an aggregate's events. Reads only; no tasks here.
 */
import { decode } from '../domain/codec.ts'
import type { RecordedEvent } from '../domain/corrections.ts'
import type { MessageOf, SchemaMap } from '../domain/decider.ts'
import { HEADERS, type EventEnvelope, type ReplyEnvelope, type SnapshotRecord } from '../domain/envelopes.ts'
import { eventsForReading, type HistoryView } from '../domain/event-reads.ts'
import { upcastEvent } from '../domain/upcasting.ts'
import type { Topology } from '../topology/loader.ts'
import { latestSnapshots, readDeadLetters, type DeadLetter } from './driver-types.ts'
import type { MemoryLog } from './memory-log.ts'

export abstract class CommittedOutputs<S, EM extends SchemaMap> {
  constructor(
    readonly topology: Topology,
    readonly log: MemoryLog,
  ) {}

  protected abstract get allPartitions(): number[]

  private values<T>(topic: string): T[] {
    return this.log.values<T>(topic)
  }

  /** Committed replies (read_committed), in partition then offset order. */
  replies(): ReplyEnvelope[] {
    return this.values<ReplyEnvelope>(this.topology.topics.replies)
  }

  /** The latest committed reply with this commandId (on any aggregate). */
  reply(commandId: string): ReplyEnvelope | undefined {
    const all = this.replies().filter((r) => r.commandId === commandId)
    return all[all.length - 1]
  }

  /** The committed reply to the command record at `source`, by the kd-source-* headers every reply carries. */
  protected replyTo(source: { partition: number; offset: string }): ReplyEnvelope | undefined {
    const partition = String(source.partition)
    for (const r of this.log.readAll(this.topology.topics.replies)) {
      if (
        r.value !== null &&
        r.headers[HEADERS.sourcePartition]?.toString() === partition &&
        r.headers[HEADERS.sourceOffset]?.toString() === source.offset
      )
        return decode(r.value, r.headers[HEADERS.contentType]?.toString()) as ReplyEnvelope
    }
    return undefined
  }

  /**
   * Committed events (read_committed) at their type's current schema version (upcast, as every read of the worker);
   * of one aggregate when given, in version order.
   */
  events(aggregateId?: string): (EventEnvelope & MessageOf<EM>)[] {
    return this.recordedEvents(aggregateId).map((e) => upcastEvent(this.topology.decider, e))
  }

  /** Committed events as stored in the topic (not upcast); of one aggregate when given, in version order. */
  recordedEvents(aggregateId?: string): (EventEnvelope & MessageOf<EM>)[] {
    const all = this.values<EventEnvelope & MessageOf<EM>>(this.topology.topics.events)
    return aggregateId === undefined
      ? all
      : all.filter((e) => e.aggregateId === aggregateId).sort((a, b) => a.version - b.version)
  }

  /** One aggregate's events as a read shows them (eventsForReading): upcast, as recorded or as corrected. */
  history(
    aggregateId: string,
    view: HistoryView = 'recorded',
  ): RecordedEvent<EventEnvelope & MessageOf<EM>>[] {
    return eventsForReading(this.topology.decider, this.recordedEvents(aggregateId), view)
  }

  /** Committed dead letters with their error headers. */
  deadLetters(): DeadLetter[] {
    return readDeadLetters(this.log, this.topology.topics.deadLetters)
  }

  /** The latest committed changelog snapshot per aggregate (what a restore from scratch would hold). */
  changelogSnapshots(partition?: number): Map<string, SnapshotRecord<S>> {
    const parts = partition === undefined ? this.allPartitions : [partition]
    return latestSnapshots(this.log, this.topology.topics.changelog, parts) as Map<string, SnapshotRecord<S>>
  }

  /** The decider's fold of an aggregate's committed events (upcast). */
  foldedState(aggregateId: string): S {
    let state = this.topology.decider.initialState() as S
    for (const e of this.events(aggregateId)) state = this.topology.decider.evolve(state, e) as S
    return state
  }
}
