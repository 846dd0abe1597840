/** In-memory topics for the SQL tests: the bank-account sample's events and changelog, a projection's views. */
import { encode } from '../../src/domain/codec.ts'
import { OFFSET_MARKER_KEY, type EventEnvelope } from '../../src/domain/envelopes.ts'
import { defineProjection } from '../../src/domain/projection.ts'
import type { SourceRecord } from '../../src/sql/rows.ts'
import type { TopicSource } from '../../src/sql/tables.ts'
import { fromDecider } from '../../src/topology/loader.ts'
import { fromProjection } from '../../src/topology/projection-loader.ts'
import bank from '../../topologies/bank-account.ts'

/** Topics in memory, handed out `chunk` records at a time, as the Kafka source hands out one fetch at a time. */
export class MemoryTopics implements TopicSource {
  reads = 0
  constructor(
    readonly topics: Map<string, SourceRecord[]>,
    private readonly chunk = 2,
  ) {}
  async missing(topics: readonly string[]) {
    return topics.filter((t) => !this.topics.has(t))
  }
  async read(
    topic: string,
    onChunk: (r: SourceRecord[]) => Promise<void> | void,
    o: { signal: AbortSignal },
  ) {
    this.reads++
    const records = this.topics.get(topic)!
    for (let i = 0; i < records.length && !o.signal.aborted; i += this.chunk)
      await onChunk(records.slice(i, i + this.chunk))
  }
}

let offset = 0n
export const rec = (partition: number, key: string | null, value: unknown, json = false): SourceRecord => ({
  partition,
  offset: offset++,
  key: key === null ? null : Buffer.from(key),
  value: value === null ? null : encode(value, json ? 'json' : 'msgpack'),
  contentType: json ? 'application/json' : 'application/msgpack',
})

export function event(
  id: string,
  version: number,
  type: string,
  payload: unknown,
  extra: Partial<EventEnvelope> = {},
) {
  return {
    eventId: `${id}@${version}`,
    type,
    aggregateId: id,
    version,
    payload,
    commandId: `c-${id}-${version}`,
    correlationId: `c-${id}-${version}`,
    causationId: `c-${id}-${version}`,
    eventTime: `2026-03-0${version}T10:00:00.000Z`,
    recordedAt: '2026-04-01T12:00:00.250Z',
    schemaVersion: 1,
    ...extra,
  } satisfies EventEnvelope
}

export const snapshot = (id: string, version: number, balance: number, stateVersion?: number) => ({
  aggregateId: id,
  version,
  state: { status: 'open', owner: id, balance },
  recent: [],
  sourceOffset: String(version),
  ...(stateVersion === undefined ? {} : { stateVersion }),
})

export const topology = fromDecider(bank, { name: 'bank-account' })
export const projection = fromProjection(
  defineProjection<{ type: string; payload: unknown }, { n: number }>({
    key: (e) => e.aggregateId,
    project: (v) => v,
  }),
  { name: 'per-owner' },
  [{ topic: topology.topics.events }],
)

export function bankTopics(): MemoryTopics {
  return new MemoryTopics(
    new Map([
      [
        topology.topics.events,
        [
          rec(0, 'a', event('a', 1, 'AccountCreated', { owner: 'Ada' })),
          rec(0, 'a', event('a', 2, 'MoneyDeposited', { amount: 100, balance: 100 })),
          rec(1, 'b', event('b', 1, 'AccountCreated', { owner: 'Bob' }), true),
          rec(0, 'a', event('a', 3, 'MoneyDeposited', { amount: 50, balance: 150 })),
          rec(1, 'b', event('b', 2, 'MoneyDeposited', { amount: 7, balance: 7 }), true),
          rec(
            0,
            'a',
            event(
              'a',
              4,
              'DepositCorrected',
              { difference: -10, balance: 140 },
              { corrects: ['a@3'], correctionReason: 'typo' },
            ),
          ),
          { ...rec(1, 'b', null), value: Buffer.from([0xc1]) }, // not msgpack: skipped
        ],
      ],
      [
        topology.topics.changelog,
        [
          rec(0, 'a', snapshot('a', 1, 0)),
          rec(0, OFFSET_MARKER_KEY, { marker: 'input-offset', inputOffset: '3' }),
          rec(1, 'b', snapshot('b', 2, 7, 1), true),
          rec(0, 'a', snapshot('a', 4, 140, 1)),
          rec(1, 'gone', snapshot('gone', 1, 0)),
          rec(1, 'gone', null), // tombstone: the last record of the key
        ],
      ],
      [
        projection.topics.changelog,
        [
          rec(0, 'Ada', { n: 1 }),
          rec(0, '\u0000marker', { offset: 1 }),
          rec(1, 'Bob', { n: 1 }, true),
          rec(0, 'Ada', { n: 2 }),
          rec(1, 'Eve', { n: 1 }),
          rec(1, 'Eve', null), // deleted view
        ],
      ],
    ]),
  )
}
