/**
 * The records of a projection's internal topics (README "Read side", wire contract):
 *
 * repartition topic (key = view key, partition = the view key's, like a command's):
 *   data ........ RoutedEvent: one source event for one of its view keys, with where it came from
 *   progress .... key PROGRESS_MARKER_KEY, ProgressMarker: "every event of source (topic, partition) up to offset
 *                 has been routed", written to every partition in each router transaction (read-your-writes)
 * views changelog (compacted; key = view key):
 *   view ........ the view's bytes (topology serialization); null = the view was deleted
 *   marker ...... key OFFSET_MARKER_KEY, ViewsMarker: the repartition offset and source positions the views
 *                 include, and the changelog's generation (a rebuild starts a new one)
 */
import { RESERVED_KEY_PREFIX } from './envelopes.ts'
import type { EventEnvelope } from './envelopes.ts'

export const PROGRESS_MARKER_KEY = `${RESERVED_KEY_PREFIX}kafka-decider/progress`

export interface RoutedEvent {
  /** The source event's topic, partition and offset (decimal). */
  source: { topic: string; partition: number; offset: string }
  /** Which of the event's view keys this record is for (0-based): one event may touch several views. */
  keyIndex: number
  /** The event as stored, upcast to its decider's current schema. */
  event: EventEnvelope
}

export interface ProgressMarker {
  marker: 'progress'
  topic: string
  partition: number
  /** Last source offset routed (decimal). */
  offset: string
}

export interface ViewsMarker {
  marker: 'input-offset'
  /** Last repartition offset whose effects are in the views (decimal). */
  inputOffset: string
  /** Per source "topic/partition": the last position applied, "offset:keyIndex" (decimal). */
  sources: Record<string, string>
  /** Changes when the projection is rebuilt: a store of another generation is dropped and restored anew. */
  generation: string
}

/** A position in one source partition: (offset, keyIndex); a progress marker is (offset, PAST_ALL_KEYS). */
export interface SourcePosition {
  offset: bigint
  keyIndex: number
}

export const PAST_ALL_KEYS = 2 ** 31 - 1

export const sourceId = (topic: string, partition: number): string => `${topic}/${partition}`

export function isAfter(a: SourcePosition, b: SourcePosition | undefined): boolean {
  if (b === undefined) return true
  return a.offset > b.offset || (a.offset === b.offset && a.keyIndex > b.keyIndex)
}

export function formatPosition(p: SourcePosition): string {
  return `${p.offset}:${p.keyIndex}`
}

export function parsePosition(s: string): SourcePosition | undefined {
  const m = /^(\d+):(\d+)$/.exec(s)
  return m ? { offset: BigInt(m[1]!), keyIndex: Number(m[2]) } : undefined
}
