/**
 * MemoryLog: the in-memory twin of the Kafka log, modelling just enough of Kafka for exactly-once:
 * - topics -> partitions -> records; every record, data or control, takes one offset;
 * - keyed records without a partition go where production sends them (partitionOf, murmur2);
 * - transactions: records written in a transaction are invisible to read_committed readers until the
 *   transaction commits (and forever if it aborts); commit/abort writes one control record (the marker)
 *   on every partition the transaction touched; the last stable offset stops at the first open transaction;
 * - transactional ids with epochs: a newer InitProducerId fences the older producer and aborts its open
 *   transaction;
 * - consumer-group offsets, stored when the transaction that carried them commits.
 */
import { decode } from '../domain/codec.ts'
import { partitionOf } from '../kafka/partitioner.ts'
import type { InputRecord } from '../runtime/ports.ts'
import type { Topology } from '../topology/loader.ts'

export type Isolation = 'read_committed' | 'read_uncommitted'

export interface StoredRecord {
  offset: string
  key: Buffer | null
  value: Buffer | null
  headers: Record<string, string | Buffer>
  timestamp: string
  /** Set for transaction markers (control records): they take an offset but are never returned as data. */
  control?: 'commit' | 'abort'
  /** The transaction that wrote the record (undefined = non-transactional). */
  txn?: number
}

type TxnStatus = 'open' | 'committed' | 'aborted'

interface TxnInfo {
  id: number
  transactionalId: string
  epoch: number
  status: TxnStatus
  /** Partitions touched, as "topic\u0000partition", with the first offset written to each. */
  partitions: Map<string, number>
  pendingOffsets: { group: string; topic: string; partition: number; offset: string }[]
}

export interface ProduceInput {
  key?: string | Buffer | null
  value: Buffer | null
  headers?: Record<string, string | Buffer>
  partition?: number
  timestamp?: string | number
}

const tp = (topic: string, partition: number) => `${topic}\u0000${partition}`

/** A record key as stored: strings become their UTF-8 bytes; undefined and null become null. */
export const toBuf = (k: string | Buffer | null | undefined): Buffer | null =>
  k === undefined || k === null ? null : typeof k === 'string' ? Buffer.from(k) : k

export class MemoryLog {
  private readonly topics = new Map<string, StoredRecord[][]>()
  private readonly txns = new Map<number, TxnInfo>()
  private readonly epochs = new Map<string, number>()
  private readonly openByTransactionalId = new Map<string, number>()
  private readonly groupOffsets = new Map<string, string>()
  private nextTxnId = 1

  constructor(private readonly o: { defaultPartitions?: number; now?: () => number } = {}) {}

  // ---- topics -------------------------------------------------------------------------------------

  createTopic(name: string, partitions: number): void {
    const existing = this.topics.get(name)
    if (existing) {
      if (existing.length !== partitions)
        throw new Error(`topic ${name} exists with ${existing.length} partitions`)
      return
    }
    this.topics.set(
      name,
      Array.from({ length: partitions }, () => []),
    )
  }

  /** Creates the five topics of a topology with its partition count. */
  createTopologyTopics(topology: Topology): void {
    for (const t of Object.values(topology.topics)) this.createTopic(t, topology.definition.partitions)
  }

  partitionCount(topic: string): number {
    return this.partitionsOf(topic).length
  }

  private partitionsOf(topic: string): StoredRecord[][] {
    let parts = this.topics.get(topic)
    if (!parts) {
      const n = this.o.defaultPartitions
      if (n === undefined)
        throw new Error(`unknown topic ${topic} (create it first, or give MemoryLog a defaultPartitions)`)
      this.createTopic(topic, n)
      parts = this.topics.get(topic)!
    }
    return parts
  }

  private partition(topic: string, partition: number): StoredRecord[] {
    const p = this.partitionsOf(topic)[partition]
    if (!p) throw new Error(`topic ${topic} has no partition ${partition}`)
    return p
  }

  /**
   * The key's partition, as production picks it: kafkajs' default (Java-compatible murmur2) partitioner via
   * partitionOf; keyless records go to partition 0, as the task's transactional producer sends them.
   */
  partitionFor(topic: string, key: string | Buffer | null): number {
    const k = toBuf(key)
    return k === null ? 0 : partitionOf(k, this.partitionCount(topic))
  }

  // ---- writing --------------------------------------------------------------------------------------

  private appendRaw(topic: string, partition: number, r: Omit<StoredRecord, 'offset'>): number {
    const p = this.partition(topic, partition)
    const offset = p.length
    p.push({ ...r, offset: String(offset) })
    return offset
  }

  /** A non-transactional produce (e.g. a client sending commands). Returns where the record went. */
  produce(topic: string, input: ProduceInput): { partition: number; offset: string } {
    const partition = input.partition ?? this.partitionFor(topic, input.key ?? null)
    const offset = this.appendRaw(topic, partition, {
      key: toBuf(input.key),
      value: input.value,
      headers: { ...(input.headers ?? {}) },
      timestamp: String(input.timestamp ?? (this.o.now ?? Date.now)()),
    })
    return { partition, offset: String(offset) }
  }

  // ---- reading --------------------------------------------------------------------------------------

  /** Log end offset: one past the last record, markers included (the high watermark). */
  logEndOffset(topic: string, partition: number): string {
    return String(this.partition(topic, partition).length)
  }

  /** Last stable offset: the first offset of the earliest open transaction on the partition, else the log end. */
  lastStableOffset(topic: string, partition: number): string {
    let lso = this.partition(topic, partition).length
    const key = tp(topic, partition)
    for (const t of this.txns.values()) {
      if (t.status !== 'open') continue
      const first = t.partitions.get(key)
      if (first !== undefined && first < lso) lso = first
    }
    return String(lso)
  }

  private visible(r: StoredRecord, isolation: Isolation): boolean {
    if (r.control !== undefined) return false
    if (r.txn === undefined || isolation === 'read_uncommitted') return true
    return this.txns.get(r.txn)?.status === 'committed'
  }

  /** Data records of one partition from `from`, as a consumer with the given isolation would see them. */
  read(
    topic: string,
    partition: number,
    opts: { from?: string; to?: string; isolation?: Isolation } = {},
  ): StoredRecord[] {
    const isolation = opts.isolation ?? 'read_committed'
    const p = this.partition(topic, partition)
    const from = Number(opts.from ?? 0)
    let to = opts.to === undefined ? p.length : Math.min(Number(opts.to), p.length)
    if (isolation === 'read_committed') to = Math.min(to, Number(this.lastStableOffset(topic, partition)))
    const out: StoredRecord[] = []
    for (let i = from; i < to; i++) {
      const r = p[i]!
      if (this.visible(r, isolation)) out.push(r)
    }
    return out
  }

  /** Data records of every partition of a topic (partition order, then offset order). */
  readAll(topic: string, isolation: Isolation = 'read_committed'): (StoredRecord & { partition: number })[] {
    const out: (StoredRecord & { partition: number })[] = []
    const n = this.partitionCount(topic)
    for (let p = 0; p < n; p++)
      for (const r of this.read(topic, p, { isolation })) out.push({ ...r, partition: p })
    return out
  }

  /** Decoded values of a topic's read_committed data records (msgpack or JSON, by content-type). */
  values<T = unknown>(topic: string, isolation: Isolation = 'read_committed'): T[] {
    return this.readAll(topic, isolation).map(
      (r) => (r.value === null ? null : decode(r.value, headerStr(r.headers['content-type']))) as T,
    )
  }

  /** Every record of a partition, markers included (for assertions on the raw log). */
  raw(topic: string, partition: number): readonly StoredRecord[] {
    return this.partition(topic, partition)
  }

  /** Records of an input partition as the task's consumer receives them (read_committed). */
  inputRecords(topic: string, partition: number, from = 0n): InputRecord[] {
    return this.read(topic, partition, { from: from.toString() }).map((r) => ({
      partition,
      offset: BigInt(r.offset),
      key: r.key,
      value: r.value,
      headers: { ...r.headers },
      timestamp: r.timestamp,
    }))
  }

  // ---- consumer groups --------------------------------------------------------------------------------

  committedOffset(group: string, topic: string, partition: number): string | undefined {
    return this.groupOffsets.get(`${group}\u0000${tp(topic, partition)}`)
  }

  /** Sets a group offset directly (e.g. to simulate a stale OffsetFetch). */
  setCommittedOffset(group: string, topic: string, partition: number, offset: string | undefined): void {
    const k = `${group}\u0000${tp(topic, partition)}`
    if (offset === undefined) this.groupOffsets.delete(k)
    else this.groupOffsets.set(k, offset)
  }

  // ---- transactions (used by MemoryTransactionalProducer) ---------------------------------------------

  /** InitProducerId: bumps the epoch (fencing older producers) and aborts the id's open transaction. */
  initProducerId(transactionalId: string): number {
    const open = this.openByTransactionalId.get(transactionalId)
    if (open !== undefined) this.endTxn(open, 'abort')
    const epoch = (this.epochs.get(transactionalId) ?? 0) + 1
    this.epochs.set(transactionalId, epoch)
    return epoch
  }

  currentEpoch(transactionalId: string): number | undefined {
    return this.epochs.get(transactionalId)
  }

  beginTxn(transactionalId: string, epoch: number): number {
    if (this.openByTransactionalId.has(transactionalId))
      throw new Error(`${transactionalId} already has an open transaction`)
    const id = this.nextTxnId++
    this.txns.set(id, {
      id,
      transactionalId,
      epoch,
      status: 'open',
      partitions: new Map(),
      pendingOffsets: [],
    })
    this.openByTransactionalId.set(transactionalId, id)
    return id
  }

  txnStatus(txn: number): TxnStatus | undefined {
    return this.txns.get(txn)?.status
  }

  /** Transactions by outcome (for assertions such as "exactly one commit"). */
  transactionCounts(): Record<TxnStatus, number> {
    const c: Record<TxnStatus, number> = { open: 0, committed: 0, aborted: 0 }
    for (const t of this.txns.values()) c[t.status]++
    return c
  }

  appendInTxn(
    txn: number,
    topic: string,
    partition: number,
    r: Omit<StoredRecord, 'offset' | 'txn'>,
  ): number {
    const t = this.openTxn(txn)
    const offset = this.appendRaw(topic, partition, { ...r, txn })
    const k = tp(topic, partition)
    if (!t.partitions.has(k)) t.partitions.set(k, offset)
    return offset
  }

  addOffsetsToTxn(txn: number, group: string, topic: string, partition: number, offset: string): void {
    this.openTxn(txn).pendingOffsets.push({ group, topic, partition, offset })
  }

  endTxn(txn: number, how: 'commit' | 'abort'): void {
    const t = this.openTxn(txn)
    for (const k of t.partitions.keys()) {
      const [topic, p] = k.split('\u0000') as [string, string]
      this.appendRaw(topic, Number(p), {
        key: null,
        value: null,
        headers: {},
        timestamp: String((this.o.now ?? Date.now)()),
        control: how,
        txn,
      })
    }
    t.status = how === 'commit' ? 'committed' : 'aborted'
    if (how === 'commit')
      for (const o of t.pendingOffsets) this.setCommittedOffset(o.group, o.topic, o.partition, o.offset)
    this.openByTransactionalId.delete(t.transactionalId)
  }

  private openTxn(txn: number): TxnInfo {
    const t = this.txns.get(txn)
    if (!t) throw new Error(`unknown transaction ${txn}`)
    if (t.status !== 'open') throw new Error(`transaction ${txn} is ${t.status}, not open`)
    return t
  }
}

function headerStr(v: string | Buffer | undefined): string | undefined {
  return v === undefined ? undefined : v.toString()
}
