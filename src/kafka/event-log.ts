/**
 * The sequential read of a topology's events topic: every committed event in commit order per partition, from a
 * position token (domain/position.ts), for the Node client's readAll() and subscribe() and the CLI's
 * `decider events --all`, over readCommittedLog (committed-log.ts): read_committed, decided from the transaction
 * markers, in a private consumer group; `onEvents` is awaited before the next fetch (bounded memory); a rejoin of
 * the private group ends the read with ReaderRejoinedError (resume from the last position).
 */
import type { Kafka } from 'kafkajs'
import { decode } from '../domain/codec.ts'
import { isReservedKey, type EventEnvelope } from '../domain/envelopes.ts'
import { decodePosition, encodePosition } from '../domain/position.ts'
import { readCommittedLog } from './committed-log.ts'

export interface LoggedEvent {
  partition: number
  offset: bigint
  event: EventEnvelope
  /** Token of the position right after this event: a read from it delivers what came after, nothing before. */
  position: string
}

export interface EventLogReadOptions {
  topic: string
  /** Position token; undefined = every partition from its start. */
  from?: string
  /** false: stop at the end every partition had when the read started; true: follow until `signal` aborts. */
  follow: boolean
  signal?: AbortSignal
  /** Names the private group. */
  groupPrefix: string
  /** A read that does not follow fails when it makes no progress (no record, no marker) for this long. */
  timeoutMs?: number
  onEvents(events: LoggedEvent[]): Promise<void>
}

/** Reads; resolves with the token of the position reached (where the next read should start). */
export async function readEventLog(kafka: Kafka, o: EventLogReadOptions): Promise<string> {
  const positions = decodePosition(o.from)
  await readCommittedLog(kafka, {
    topic: o.topic,
    positions,
    follow: o.follow,
    ...(o.signal === undefined ? {} : { signal: o.signal }),
    groupPrefix: `${o.groupPrefix}-events`,
    ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
    onRecords: async (partition, records) => {
      const events: LoggedEvent[] = []
      for (const r of records) {
        if (r.value === null || r.key === null || isReservedKey(r.key.toString('utf8'))) continue
        let event: EventEnvelope
        try {
          event = decode(r.value) as EventEnvelope
        } catch {
          continue // not an event a worker wrote
        }
        const offset = BigInt(r.offset)
        positions.set(partition, offset + 1n)
        events.push({ partition, offset, event, position: encodePosition(positions) })
      }
      if (events.length > 0) await o.onEvents(events)
    },
  })
  return encodePosition(positions)
}
