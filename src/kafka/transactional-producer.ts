/**
 * A task's transactional producer over kafkajs 2.2.4, with the workarounds exactly-once needs:
 * - transactionalId = <application>-<commands topic>-<partition>: the new owner's InitProducerId fences the
 *   old one (kafkajs cannot do KIP-447 group-metadata fencing);
 * - idempotent, maxInFlightRequests 1, transactionTimeout ~10 s (an open transaction blocks read_committed
 *   readers, so a dead owner must not hold it for the default 60 s);
 * - low initial retry backoff: kafkajs backs off 300 ms on CONCURRENT_TRANSACTIONS otherwise;
 * - sendOffsets is not retried by kafkajs on CONCURRENT_TRANSACTIONS or coordinator moves: retried here, bounded;
 * - kafkajs 2.2.4 can DUPLICATE records when it retries a send that spans several brokers: on the first error
 *   (e.g. CONCURRENT_TRANSACTIONS from AddPartitionsToTxn for broker A) it retries at once, while the request to
 *   broker B is still in flight, and re-sends B's records with new sequence numbers, so the broker keeps both
 *   copies in the same transaction (producer/sendMessages.js: Promise.all, then a retry of every broker without
 *   a response yet). Seen by the verifier on 3 brokers as pairs of identical replies and events. So every send
 *   counts the Produce requests per broker; more than one to a broker means kafkajs retried, and the send fails
 *   with ProduceRetriedError: the transaction is aborted and the batch redone, so no copy is ever committed;
 * - kafkajs 2.2.4 can also DROP records silently in such a retry: when a partition's leader moved to a broker
 *   that already answered the first attempt, that broker is not asked again and the moved partition's records
 *   are never sent, yet the send succeeds. Seen after a broker restart as a committed transaction whose
 *   changelog part was missing. So every record gets its partition here (kafkajs' default partitioner for
 *   keyed records), and a send whose response lacks a partition it carried fails with ProduceIncompleteError.
 */
import type { Kafka, Producer, Transaction } from 'kafkajs'
import { ProduceIncompleteError, ProduceRetriedError, TaskFencedError } from '../errors.ts'
import type {
  OpenTransaction,
  OutputRecord,
  TopicPartition,
  TransactionalProducer,
} from '../runtime/ports.ts'
import { isFencingError, isTxnStepRetriable } from './errors.ts'
import { partitionOf } from './partitioner.ts'
import { installFastProduce } from './fast-produce.ts'
import { captureTransactionManager, type TransactionManager } from './coordinator-cache.ts'
import { retry } from '../util/retry.ts'

// Produce requests encoded in one pass (fast-produce.ts): the same bytes as kafkajs', for a fraction of the CPU.
installFastProduce()

export interface TransactionalProducerOptions {
  transactionalId: string
  groupId: string
  inputTopic: string
  inputPartition: number
  transactionTimeoutMs: number
  /** Bytes of records per produce request (below the broker's message.max.bytes). */
  maxRequestBytes: number
  /** Partition count of each output topic whose records carry no partition (replies, dead letters). */
  partitionCounts: ReadonlyMap<string, number>
}

export class KafkaTransactionalProducer implements TransactionalProducer {
  private readonly producer: Producer
  private connected = false
  /** Produce requests per broker during the current send (see ProduceRetriedError); undefined between sends. */
  private produceRequests: Map<string, number> | undefined
  /** kafkajs' transaction manager of this producer, when the preload's wrapper is installed (coordinator-cache.ts). */
  private manager: TransactionManager | undefined

  constructor(
    kafka: Kafka,
    private readonly o: TransactionalProducerOptions,
  ) {
    this.producer = kafka.producer({
      transactionalId: o.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: o.transactionTimeoutMs,
      // 10 ms first backoff: CONCURRENT_TRANSACTIONS clears within a few ms on a healthy broker.
      retry: { initialRetryTime: 10, maxRetryTime: 1000, retries: 10 },
    })
    const count = (broker: string) =>
      this.produceRequests?.set(broker, (this.produceRequests.get(broker) ?? 0) + 1)
    // NETWORK_REQUEST fires when a request completed (error responses included), REQUEST_TIMEOUT when one
    // timed out; both before kafkajs' retry of it is sent.
    this.producer.on(this.producer.events.REQUEST, (e) => {
      if (e.payload.apiName === 'Produce') count(e.payload.broker)
    })
    this.producer.on(this.producer.events.REQUEST_TIMEOUT, (e) => {
      if (e.payload.apiName === 'Produce') count(e.payload.broker)
    })
  }

  /** Runs one kafkajs send and fails if kafkajs sent more than one Produce request to any broker for it. */
  async guardedSend<T>(send: () => Promise<T>): Promise<T> {
    const requests = new Map<string, number>()
    this.produceRequests = requests
    try {
      const result = await send()
      const retried = [...requests].filter(([, n]) => n > 1)
      if (retried.length > 0) {
        throw new ProduceRetriedError(
          `kafkajs retried produce requests during one send (${retried.map(([b, n]) => `${n} to ${b}`).join(', ')}); ` +
            'its records may be duplicated, so this transaction is aborted and the batch processed again',
        )
      }
      return result
    } finally {
      this.produceRequests = undefined
    }
  }

  async init(): Promise<void> {
    if (!this.connected) {
      await this.producer.connect()
      this.connected = true
    }
    // kafkajs sends InitProducerId on the first transaction(); an empty abort sends no EndTxn. The first call creates
    // the producer's transaction manager, taken here.
    try {
      const { result, manager } = captureTransactionManager(() => this.producer.transaction())
      this.manager ??= manager
      const t = await result
      await t.abort()
    } catch (e) {
      throw wrapFencing(e, this.o.transactionalId)
    }
  }

  /**
   * A transaction may leave the input offset out when this producer adds its partitions itself (see write()): only
   * with kafkajs' transaction manager at hand, i.e. with src/kafka/preload.ts loaded before kafkajs.
   */
  get offsetsOptional(): boolean {
    return this.manager !== undefined
  }

  async begin(): Promise<OpenTransaction> {
    const txn = await this.producer.transaction()
    return new KafkaOpenTransaction(txn, this.o, (send) => this.guardedSend(send), this.manager)
  }

  async close(): Promise<void> {
    if (this.connected) await this.producer.disconnect().catch(() => undefined)
    this.connected = false
  }
}

class KafkaOpenTransaction implements OpenTransaction {
  private seconds = { offsets: 0, produce: 0 }

  constructor(
    private readonly txn: Transaction,
    private readonly o: TransactionalProducerOptions,
    private readonly guarded: <T>(send: () => Promise<T>) => Promise<T>,
    private readonly manager: TransactionManager | undefined,
  ) {}

  /**
   * Something must wait out the previous transaction first: until its markers are written, the coordinator answers
   * CONCURRENT_TRANSACTIONS, and kafkajs' retry of a multi-broker send that meets it would abort the batch
   * (ProduceRetriedError). With the input offset, AddOffsetsToTxn goes first and waits (retried). Without it, the
   * transaction's partitions are added here, retried the same way, before the send (kafkajs' send then skips them).
   */
  async write(
    records: OutputRecord[],
    nextInputOffset: bigint | undefined,
    baseOffsetsOf: readonly TopicPartition[],
  ): Promise<(bigint | undefined)[]> {
    const started = performance.now()
    if (nextInputOffset !== undefined) await this.sendOffsets(nextInputOffset)
    else if (this.manager !== undefined && records.length > 0) await this.addPartitions(records)
    const produced = performance.now()
    const bases = await this.send(records, baseOffsetsOf)
    this.seconds = { offsets: (produced - started) / 1000, produce: (performance.now() - produced) / 1000 }
    return bases
  }

  writeSeconds(): { offsets: number; produce: number } {
    return this.seconds
  }

  /**
   * Sends in as few produce requests as the broker accepts: a request's records are cut at
   * maxRequestBytes (the broker refuses a partition's record batch above message.max.bytes, 1 MB by
   * default, and would refuse it on every retry). Records of one partition stay in order across requests.
   */
  private async send(
    records: OutputRecord[],
    baseOffsetsOf: readonly TopicPartition[],
  ): Promise<(bigint | undefined)[]> {
    const bases: (bigint | undefined)[] = baseOffsetsOf.map(() => undefined)
    for (const request of splitBySize(records, this.o.maxRequestBytes)) {
      const byTopic = new Map<string, Message[]>()
      // The partitions each topic's records go to (a Set per topic, not a string per record: this runs per record).
      const expected = new Map<string, Set<number>>()
      for (const r of request) {
        let list = byTopic.get(r.topic)
        let partitions = expected.get(r.topic)
        if (!list || !partitions) {
          byTopic.set(r.topic, (list = []))
          expected.set(r.topic, (partitions = new Set()))
        }
        const partition = r.partition ?? this.partitionFor(r)
        partitions.add(partition)
        list.push({ key: r.key, value: r.value, partition, headers: r.headers })
      }
      try {
        const topicMessages = [...byTopic].map(([topic, messages]) => ({ topic, messages }))
        const meta = await this.guarded(() => this.txn.sendBatch({ topicMessages }))
        for (const m of meta) expected.get(m.topicName)?.delete(m.partition)
        const missing = [...expected].flatMap(([topic, ps]) => [...ps].map((p) => `${topic}:${p}`))
        if (missing.length > 0) {
          throw new ProduceIncompleteError(
            `kafkajs reported the send done without a response for ${missing.join(', ')} (records possibly never sent, e.g. after a leader moved); ` +
              'this transaction is aborted and the batch processed again',
          )
        }
        baseOffsetsOf.forEach((tp, i) => {
          const written = meta.find(
            (x) => x.topicName === tp.topic && x.partition === tp.partition,
          )?.baseOffset
          if (written !== undefined) bases[i] ??= BigInt(written)
        })
      } catch (e) {
        throw wrapFencing(e, this.o.transactionalId)
      }
    }
    return bases
  }

  /** kafkajs' default partitioner (murmur2 of the key); a record without key goes to partition 0. */
  private partitionFor(r: OutputRecord): number {
    const count = this.o.partitionCounts.get(r.topic)
    if (count === undefined) throw new Error(`no partition count known for output topic ${r.topic}`)
    return r.key === null ? 0 : partitionOf(r.key, count)
  }

  /** AddPartitionsToTxn for every partition `records` go to, retried like sendOffsets. */
  private async addPartitions(records: OutputRecord[]): Promise<void> {
    const byTopic = new Map<string, Set<number>>()
    for (const r of records) {
      let partitions = byTopic.get(r.topic)
      if (partitions === undefined) byTopic.set(r.topic, (partitions = new Set()))
      partitions.add(r.partition ?? this.partitionFor(r))
    }
    const topicData = [...byTopic].map(([topic, ps]) => ({
      topic,
      partitions: [...ps].map((partition) => ({ partition })),
    }))
    const manager = this.manager!
    await this.retriedStep(() => manager.addPartitionsToTransaction(topicData))
  }

  private async sendOffsets(nextInputOffset: bigint): Promise<void> {
    const args = {
      consumerGroupId: this.o.groupId,
      topics: [
        {
          topic: this.o.inputTopic,
          partitions: [{ partition: this.o.inputPartition, offset: nextInputOffset.toString() }],
        },
      ],
    }
    await this.retriedStep(() => this.txn.sendOffsets(args))
  }

  /**
   * The first step of a transaction, retried while the previous one's markers are written or the coordinator loads.
   * Bounded: 12 tries, 10 ms doubling to 500 ms (~3 s) — longer than a commit marker write takes.
   */
  private async retriedStep(step: () => Promise<void>): Promise<void> {
    try {
      await retry(step, { retriable: isTxnStepRetriable, tries: 12, initialDelayMs: 10, maxDelayMs: 500 })
    } catch (e) {
      throw wrapFencing(e, this.o.transactionalId)
    }
  }

  async commit(): Promise<void> {
    try {
      await this.txn.commit()
    } catch (e) {
      throw wrapFencing(e, this.o.transactionalId)
    }
  }

  async abort(): Promise<void> {
    try {
      await this.txn.abort()
    } catch (e) {
      throw wrapFencing(e, this.o.transactionalId)
    }
  }
}

type Message = {
  key: string | Buffer | null
  value: Buffer | null
  partition: number
  headers: Record<string, string | Buffer>
}

/** Cuts records into consecutive groups of at most `maxBytes` (estimated record size; one record may exceed it alone). */
export function splitBySize(records: OutputRecord[], maxBytes: number): OutputRecord[][] {
  const groups: OutputRecord[][] = []
  let current: OutputRecord[] = []
  let bytes = 0
  for (const r of records) {
    let size = 70 + (r.value?.length ?? 0) + (r.key?.length ?? 0)
    for (const k in r.headers) size += k.length + r.headers[k]!.length + 2
    if (current.length > 0 && bytes + size > maxBytes) {
      groups.push(current)
      current = []
      bytes = 0
    }
    current.push(r)
    bytes += size
  }
  if (current.length > 0) groups.push(current)
  return groups
}

function wrapFencing(e: unknown, transactionalId: string): unknown {
  if (!isFencingError(e)) return e
  return new TaskFencedError(
    `producer ${transactionalId} was fenced: a newer owner of this partition initialised the same transactional id`,
    { cause: e },
  )
}
