/**
 * Fetches chosen partitions from chosen offsets without a consumer group: what Kafka Streams' restore consumer does
 * with assign(). kafkajs 2.2.4 (pinned; its last release) has no manual assignment, so this drives kafkajs' own
 * cluster object (metadata, connections, SASL/TLS, the Fetch request and its record decoding) and sends Fetch
 * requests itself: no JoinGroup, no SyncGroup, no group to delete afterwards. One fetcher serves every restore and
 * standby of a worker's topology; each call fetches any number of partitions, one request per leader broker.
 *
 * Reads are read_committed (nothing past the last stable offset is returned) and hand out every record of the log
 * from the requested offset on, transaction markers included, as LogRecords (transactions.ts): callers decide
 * transactions with a TransactionFilter, never with kafkajs' filter (transactions.ts says why).
 *
 * kafkajs internals used (checked by test/kafka/partition-fetcher.int.test.ts against the pinned version): the
 * client's private createCluster (a symbol property), Cluster#connect/addMultipleTargetTopics/refreshMetadata/
 * findLeaderForPartitions/findBroker, and Broker#fetch.
 */
import type { Kafka } from 'kafkajs'
import { kafkaErrorType } from './errors.ts'
import { internalCluster } from './kafkajs-internals.ts'
import { logRecordsOf, type LogRecord } from './transactions.ts'
import type { Batch } from 'kafkajs'

const READ_COMMITTED = 1

export interface FetchRequest {
  topic: string
  partition: number
  /** First offset wanted. */
  offset: bigint
}

export interface FetchedPartition {
  topic: string
  partition: number
  fetchOffset: bigint
  highWatermark: bigint
  /** Below it every transaction is decided; read_committed returns nothing at or past it. */
  lastStableOffset: bigint
  /** Every record at or after fetchOffset (data, aborted data and markers), in offset order. */
  records: LogRecord[]
}

/**
 * What restores and standbys fetch with: 1 MiB per partition keeps one response's decoding (kafkajs decodes a whole
 * response at once, ~2 us per record) to ~10-20 ms of the event loop, so active tasks keep processing between them.
 */
export const RESTORE_FETCH: PartitionFetcherOptions = {
  maxBytesPerPartition: 1_048_576,
  maxWaitMs: 200,
  concurrentReads: 2,
}

export interface PartitionFetcherOptions {
  /** Per partition per request: bounds what one response decodes on the event loop at once. */
  maxBytesPerPartition: number
  /** How long the broker may hold a request when there is nothing new (ms). */
  maxWaitMs: number
  /**
   * Reads (restores, standby rounds) running at once; the others wait their turn. A restore is CPU-bound on the
   * worker's one thread, so more at once are not faster: they only hold more fetched records in memory.
   */
  concurrentReads?: number
}

interface KafkajsPartitionData {
  partition: number
  highWatermark: string
  lastStableOffset?: string
  messages: unknown[]
}
interface KafkajsBroker {
  fetch(request: {
    isolationLevel: number
    maxWaitTime: number
    minBytes: number
    maxBytes: number
    topics: { topic: string; partitions: { partition: number; fetchOffset: string; maxBytes: number }[] }[]
  }): Promise<{ responses: { topicName: string; partitions: KafkajsPartitionData[] }[] }>
}
interface KafkajsCluster {
  connect(): Promise<void>
  disconnect(): Promise<void>
  refreshMetadata(): Promise<void>
  addMultipleTargetTopics(topics: string[]): Promise<void>
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>
  findBroker(o: { nodeId: string }): Promise<KafkajsBroker>
  fetchTopicsOffset(
    topics: { topic: string; partitions: { partition: number }[]; fromBeginning: boolean }[],
  ): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>
}

/** Errors after which fresh metadata (a moved leader, a broker back) makes the next try succeed. */
const RETRIABLE = new Set([
  'NOT_LEADER_FOR_PARTITION',
  'NOT_LEADER_OR_FOLLOWER',
  'LEADER_NOT_AVAILABLE',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'FENCED_LEADER_EPOCH',
  'UNKNOWN_LEADER_EPOCH',
  'REQUEST_TIMED_OUT',
  'NOT_ENOUGH_REPLICAS',
  'KAFKA_STORAGE_ERROR',
])
const RETRIABLE_NAMES = new Set([
  'KafkaJSConnectionError',
  'KafkaJSBrokerNotFound',
  'KafkaJSLockTimeout',
  'KafkaJSRequestTimeoutError',
  'KafkaJSConnectionClosedError',
  'KafkaJSMetadataNotLoaded',
])

export class PartitionFetcher {
  private readonly cluster: KafkajsCluster
  private connecting: Promise<void> | undefined
  private readonly topics = new Set<string>()
  private closed = false
  private reading = 0
  private readonly waiting: (() => void)[] = []

  constructor(
    kafka: Kafka,
    private readonly o: PartitionFetcherOptions,
  ) {
    this.cluster = internalCluster<KafkajsCluster>(
      kafka,
      { allowAutoTopicCreation: false, isolationLevel: READ_COMMITTED },
      'fetch without a consumer group',
    )
  }

  /**
   * One fetch of every requested partition (one request per leader, in parallel). A partition with nothing new
   * comes back with no records after up to maxWaitMs. Retries what fresh metadata cures (bounded); throws the rest.
   */
  async fetch(requests: readonly FetchRequest[]): Promise<FetchedPartition[]> {
    if (requests.length === 0) return []
    await this.ensure(requests)
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.fetchOnce(requests)
      } catch (e) {
        if (this.closed || attempt >= 8 || !retriable(e)) throw e
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** (attempt - 1), 2000)))
        await this.cluster.refreshMetadata().catch(() => undefined)
      }
    }
  }

  /**
   * The partition's last stable offset (ListOffsets, read_committed): every transaction below it is decided, so a
   * read up to it ends even while its writer has a transaction open. What standbys tail to.
   */
  async stableEnd(topic: string, partition: number): Promise<bigint> {
    await this.ensure([{ topic, partition, offset: 0n }])
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.cluster.fetchTopicsOffset([
          { topic, partitions: [{ partition }], fromBeginning: false },
        ])
        const offset = res.find((t) => t.topic === topic)?.partitions.find((p) => p.partition === partition)
        if (offset === undefined) throw new Error(`no offset for ${topic}[${partition}]`)
        return BigInt(offset.offset)
      } catch (e) {
        if (this.closed || attempt >= 8 || !retriable(e)) throw e
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** (attempt - 1), 2000)))
        await this.cluster.refreshMetadata().catch(() => undefined)
      }
    }
  }

  /** Runs `read` when fewer than concurrentReads others run (FIFO). */
  async withReadSlot<T>(read: () => Promise<T>): Promise<T> {
    const limit = this.o.concurrentReads ?? Number.POSITIVE_INFINITY
    if (this.reading >= limit) await new Promise<void>((r) => this.waiting.push(r))
    else this.reading++
    try {
      return await read()
    } finally {
      const next = this.waiting.shift()
      if (next !== undefined) next()
      else this.reading--
    }
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.connecting !== undefined) await this.cluster.disconnect().catch(() => undefined)
  }

  private async ensure(requests: readonly FetchRequest[]): Promise<void> {
    if (this.closed) throw new Error('the partition fetcher is closed')
    this.connecting ??= this.cluster.connect()
    await this.connecting
    const fresh = [...new Set(requests.map((r) => r.topic))].filter((t) => !this.topics.has(t))
    if (fresh.length === 0) return
    await this.cluster.addMultipleTargetTopics([...this.topics, ...fresh])
    for (const t of fresh) this.topics.add(t)
  }

  private async fetchOnce(requests: readonly FetchRequest[]): Promise<FetchedPartition[]> {
    // leader -> topic -> partitions
    const byLeader = new Map<string, Map<string, FetchRequest[]>>()
    const byTopic = new Map<string, FetchRequest[]>()
    for (const r of requests) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), r])
    for (const [topic, rs] of byTopic) {
      const leaders = this.cluster.findLeaderForPartitions(
        topic,
        rs.map((r) => r.partition),
      )
      const found = new Set(Object.values(leaders).flat())
      const missing = rs.find((r) => !found.has(r.partition))
      if (missing !== undefined) {
        await this.cluster.refreshMetadata()
        throw Object.assign(new Error(`no leader known for ${topic}[${missing.partition}]`), {
          type: 'LEADER_NOT_AVAILABLE',
        })
      }
      for (const [leader, partitions] of Object.entries(leaders)) {
        const topics = byLeader.get(leader) ?? new Map<string, FetchRequest[]>()
        topics.set(
          topic,
          rs.filter((r) => partitions.includes(r.partition)),
        )
        byLeader.set(leader, topics)
      }
    }
    const perLeader = await Promise.all(
      [...byLeader].map(async ([nodeId, topics]) => {
        const broker = await this.cluster.findBroker({ nodeId })
        const { responses } = await broker.fetch({
          isolationLevel: READ_COMMITTED,
          maxWaitTime: this.o.maxWaitMs,
          minBytes: 1,
          maxBytes: this.o.maxBytesPerPartition * requests.length,
          topics: [...topics].map(([topic, rs]) => ({
            topic,
            partitions: rs.map((r) => ({
              partition: r.partition,
              fetchOffset: r.offset.toString(),
              maxBytes: this.o.maxBytesPerPartition,
            })),
          })),
        })
        return responses.flatMap(({ topicName, partitions }) =>
          partitions.map((p) => {
            const asked = topics.get(topicName)!.find((r) => r.partition === p.partition)!
            return toFetched(topicName, asked.offset, p)
          }),
        )
      }),
    )
    return perLeader.flat()
  }
}

function toFetched(topic: string, fetchOffset: bigint, p: KafkajsPartitionData): FetchedPartition {
  const batch = { rawMessages: p.messages, fetchedOffset: fetchOffset.toString() } as unknown as Batch
  const highWatermark = BigInt(p.highWatermark)
  return {
    topic,
    partition: p.partition,
    fetchOffset,
    highWatermark,
    lastStableOffset:
      p.lastStableOffset === undefined || p.lastStableOffset === '-1'
        ? highWatermark
        : BigInt(p.lastStableOffset),
    records: logRecordsOf(batch),
  }
}

function retriable(e: unknown): boolean {
  const type = kafkaErrorType(e)
  if (type !== undefined && RETRIABLE.has(type)) return true
  const name = (e as { name?: string } | undefined)?.name
  return name !== undefined && RETRIABLE_NAMES.has(name)
}
