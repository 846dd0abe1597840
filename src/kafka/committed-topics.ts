/**
 * Whole topics, read_committed, up to the end each partition had when the read started: the TopicSource of the SQL
 * tables (src/sql/tables.ts, matched structurally), over readCommittedLog (committed-log.ts: read_uncommitted with
 * the transaction markers applied here, in a private consumer group per read, deleted afterwards).
 */
import type { IHeaders } from 'kafkajs'
import { HEADERS } from '../domain/envelopes.ts'
import type { KafkaConnection } from './client.ts'
import { readCommittedLog } from './committed-log.ts'

/** One committed record as the SQL tables take it. */
export interface CommittedRecord {
  partition: number
  offset: bigint
  key: Buffer | null
  value: Buffer | null
  /** The record's content-type header, when it has one. */
  contentType: string | undefined
}

export class KafkaCommittedTopics {
  /** `groupPrefix` names the private groups (`<prefix>-<uuid>`). */
  constructor(
    private readonly kafka: KafkaConnection,
    private readonly groupPrefix: string,
  ) {}

  /** The topics of `topics` that do not exist. */
  async missing(topics: readonly string[]): Promise<string[]> {
    const admin = this.kafka.admin()
    await admin.connect()
    try {
      const existing = new Set(await admin.listTopics())
      return topics.filter((t) => !existing.has(t))
    } finally {
      await admin.disconnect().catch(() => undefined)
    }
  }

  /**
   * Every committed record of the topic up to today's end, one fetch of one partition at a time (`onChunk` is
   * awaited before the next fetch). Ends early, without error, when `signal` aborts.
   */
  async read(
    topic: string,
    onChunk: (records: CommittedRecord[]) => Promise<void> | void,
    o: { signal: AbortSignal; timeoutMs: number },
  ): Promise<void> {
    await readCommittedLog(this.kafka, {
      topic,
      positions: new Map(),
      follow: false,
      signal: o.signal,
      groupPrefix: this.groupPrefix,
      timeoutMs: o.timeoutMs,
      onRecords: (partition, records) =>
        onChunk(
          records.map((r) => ({
            partition,
            offset: BigInt(r.offset),
            key: r.key,
            value: r.value,
            contentType: headerText(r.headers, HEADERS.contentType),
          })),
        ),
    })
  }
}

function headerText(headers: IHeaders, name: string): string | undefined {
  const v = headers[name]
  const first = Array.isArray(v) ? v[0] : v
  return first === undefined ? undefined : first.toString()
}
