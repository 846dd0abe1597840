/**
 * In-memory twins of the task ports (src/runtime/ports.ts), for tests without a broker.
 *
 * MemoryLog models just enough of Kafka for exactly-once:
 * - topics -> partitions -> records; every record, data or control, takes one offset;
 * - transactions: records written in a transaction are invisible to read_committed readers until the
 *   transaction commits (and forever if it aborts); commit/abort writes one control record (the marker)
 *   on every partition the transaction touched; the last stable offset stops at the first open transaction;
 * - transactional ids with epochs: a newer InitProducerId fences the older producer and aborts its open
 *   transaction;
 * - consumer-group offsets, stored when the transaction that carried them commits.
 *
 * MemoryFaults lets a test make the NEXT send / sendOffsets / commit / abort fail, or run a hook just before
 * it (e.g. let another task take the partition while this one holds an open transaction).
 */
import pino from 'pino'
import { decode } from '../domain/codec.ts'
import type { SnapshotRecord } from '../domain/envelopes.ts'
import { TaskFencedError } from '../errors.ts'
import type {
  ChangelogReader,
  ChangelogRecord,
  OpenTransaction,
  TaskPorts,
  TransactionalProducer,
} from '../runtime/ports.ts'
import type { InputRecord, OutputRecord } from '../runtime/processor.ts'
import { MemorySnapshotStore, type Checkpoint, type SnapshotStore } from '../state/store.ts'
import type { Topology } from '../topology/loader.ts'

export const silentLogger = pino({ level: 'silent' })

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
const toBuf = (k: string | Buffer | null | undefined): Buffer | null =>
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

  /** The key's partition: FNV-1a of the key bytes mod the partition count; null keys go to partition 0. */
  partitionFor(topic: string, key: string | Buffer | null): number {
    const k = toBuf(key)
    if (k === null) return 0
    let h = 0x811c9dc5
    for (const b of k) h = Math.imul(h ^ b, 0x01000193) >>> 0
    return h % this.partitionCount(topic)
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
  inputRecords(topic: string, partition: number, from = '0'): InputRecord[] {
    return this.read(topic, partition, { from }).map((r) => ({
      partition,
      offset: r.offset,
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

// ---- fault injection ----------------------------------------------------------------------------------

export type FaultOp = 'init' | 'send' | 'sendOffsets' | 'commit' | 'abort'

export type Fault =
  /** The operation throws `error` without taking effect (send: after appending its records, like a partial produce). */
  | { kind: 'error'; error: unknown }
  /** Commit only: the commit takes effect, then throws (the client never saw the response). */
  | { kind: 'commit-outcome-unknown'; error: unknown }
  /** Runs `hook` just before the operation (which then proceeds normally). */
  | { kind: 'hook'; hook: () => Promise<void> | void }

/** Shared by every producer of a set of ports: the NEXT matching operation (of any producer) takes the fault. */
export class MemoryFaults {
  private readonly pending = new Map<FaultOp, Fault[]>()
  /** How many times each operation ran (attempts, including failed ones). */
  readonly calls: Record<FaultOp, number> = { init: 0, send: 0, sendOffsets: 0, commit: 0, abort: 0 }

  private add(op: FaultOp, f: Fault): this {
    const list = this.pending.get(op) ?? []
    list.push(f)
    this.pending.set(op, list)
    return this
  }

  failNext(op: FaultOp, error: unknown = new Error(`injected ${op} failure`)): this {
    return this.add(op, { kind: 'error', error })
  }
  failNextSend(error?: unknown): this {
    return this.failNext('send', error)
  }
  failNextSendOffsets(error?: unknown): this {
    return this.failNext('sendOffsets', error)
  }
  /** The next commit throws WITHOUT committing (the transaction stays open until the next init aborts it). */
  failNextCommit(error?: unknown): this {
    return this.failNext('commit', error)
  }
  /** The next commit commits, then throws: the caller cannot know it happened. */
  commitOutcomeUnknownNext(
    error: unknown = new Error('injected: request timed out (commit outcome unknown)'),
  ): this {
    return this.add('commit', { kind: 'commit-outcome-unknown', error })
  }
  /** Runs `hook` before the next `op`. */
  beforeNext(op: FaultOp, hook: () => Promise<void> | void): this {
    return this.add(op, { kind: 'hook', hook })
  }

  /** @internal Takes the fault for `op`, if any, and counts the call. */
  take(op: FaultOp): Fault | undefined {
    this.calls[op]++
    const list = this.pending.get(op)
    return list?.shift()
  }

  get pendingCount(): number {
    let n = 0
    for (const l of this.pending.values()) n += l.length
    return n
  }
}

// ---- transactional producer -----------------------------------------------------------------------------

export interface MemoryProducerOptions {
  transactionalId: string
  groupId: string
  inputTopic: string
  inputPartition: number
  faults?: MemoryFaults
}

export class MemoryTransactionalProducer implements TransactionalProducer {
  epoch: number | undefined
  closed = false
  readonly faults: MemoryFaults

  constructor(
    readonly log: MemoryLog,
    readonly o: MemoryProducerOptions,
  ) {
    this.faults = o.faults ?? new MemoryFaults()
  }

  get fenced(): boolean {
    return this.epoch !== undefined && this.log.currentEpoch(this.o.transactionalId) !== this.epoch
  }

  /** @internal */
  checkUsable(): void {
    if (this.closed) throw new Error(`producer ${this.o.transactionalId} is closed`)
    if (this.epoch === undefined) throw new Error(`producer ${this.o.transactionalId}: init() was not called`)
    if (this.fenced) {
      throw new TaskFencedError(
        `producer ${this.o.transactionalId} (epoch ${this.epoch}) was fenced by epoch ${this.log.currentEpoch(this.o.transactionalId)}`,
      )
    }
  }

  async init(): Promise<void> {
    if (this.closed) throw new Error(`producer ${this.o.transactionalId} is closed`)
    await applyFault(this.faults, 'init')
    this.epoch = this.log.initProducerId(this.o.transactionalId)
  }

  async begin(): Promise<OpenTransaction> {
    this.checkUsable()
    return new MemoryOpenTransaction(this, this.log.beginTxn(this.o.transactionalId, this.epoch!))
  }

  async close(): Promise<void> {
    this.closed = true
  }
}

async function applyFault(faults: MemoryFaults, op: FaultOp): Promise<Fault | undefined> {
  const f = faults.take(op)
  if (f?.kind === 'hook') {
    await f.hook()
    return undefined
  }
  if (f?.kind === 'error') throw f.error
  return f
}

class MemoryOpenTransaction implements OpenTransaction {
  constructor(
    private readonly producer: MemoryTransactionalProducer,
    readonly txn: number,
  ) {}

  private get log(): MemoryLog {
    return this.producer.log
  }

  async send(
    records: OutputRecord[],
    baseOffsetOf: { topic: string; partition: number },
  ): Promise<string | undefined> {
    const f = this.producer.faults.take('send')
    if (f?.kind === 'hook') await f.hook()
    this.producer.checkUsable()
    let base: number | undefined
    for (const r of records) {
      const partition = r.partition ?? this.log.partitionFor(r.topic, r.key)
      const offset = this.log.appendInTxn(this.txn, r.topic, partition, {
        key: toBuf(r.key),
        value: r.value,
        headers: { ...r.headers },
        timestamp: String(Date.now()),
      })
      if (base === undefined && r.topic === baseOffsetOf.topic && partition === baseOffsetOf.partition)
        base = offset
    }
    // An injected send failure happens after the records reached the log: only the abort hides them.
    if (f?.kind === 'error') throw f.error
    return base === undefined ? undefined : String(base)
  }

  async sendOffsets(nextInputOffset: string): Promise<void> {
    await applyFault(this.producer.faults, 'sendOffsets')
    this.producer.checkUsable()
    const o = this.producer.o
    this.log.addOffsetsToTxn(this.txn, o.groupId, o.inputTopic, o.inputPartition, nextInputOffset)
  }

  async commit(): Promise<void> {
    const f = await applyFault(this.producer.faults, 'commit')
    this.producer.checkUsable()
    this.log.endTxn(this.txn, 'commit')
    if (f?.kind === 'commit-outcome-unknown') throw f.error
  }

  async abort(): Promise<void> {
    await applyFault(this.producer.faults, 'abort')
    this.producer.checkUsable()
    this.log.endTxn(this.txn, 'abort')
  }
}

// ---- changelog reader -------------------------------------------------------------------------------------

export class MemoryChangelogReader implements ChangelogReader {
  /** Number of read() calls that actually read (for "restore was skipped" assertions). */
  reads = 0

  constructor(
    private readonly log: MemoryLog,
    private readonly topic: string,
    private readonly partition: number,
    private readonly chunkSize = 100,
  ) {}

  async endOffset(): Promise<string> {
    return this.log.lastStableOffset(this.topic, this.partition)
  }

  async read(
    from: string,
    to: string,
    onRecords: (records: ChangelogRecord[]) => Promise<void>,
    _timeoutMs: number,
  ): Promise<void> {
    if (BigInt(from) >= BigInt(to)) return
    this.reads++
    const records = this.log
      .read(this.topic, this.partition, { from, to, isolation: 'read_committed' })
      .map((r): ChangelogRecord => ({
        offset: r.offset,
        key: r.key === null ? null : r.key.toString('utf8'),
        value: r.value,
      }))
    for (let i = 0; i < records.length; i += this.chunkSize)
      await onRecords(records.slice(i, i + this.chunkSize))
  }
}

// ---- store with a fault --------------------------------------------------------------------------------

/** MemorySnapshotStore whose next write can be made to throw (once). */
export class FaultyMemoryStore extends MemorySnapshotStore {
  private nextWriteError: unknown

  failNextWrite(error: unknown = new Error('injected store write failure')): this {
    this.nextWriteError = error
    return this
  }

  override async write(snapshots: Iterable<SnapshotRecord>, checkpoint: Checkpoint): Promise<void> {
    const e = this.nextWriteError
    if (e !== undefined) {
      this.nextWriteError = undefined
      throw e
    }
    return super.write(snapshots, checkpoint)
  }
}

// ---- ports ---------------------------------------------------------------------------------------------

export interface MemoryTaskPortsOptions {
  topology: Topology
  partition: number
  log: MemoryLog
  store?: SnapshotStore
  faults?: MemoryFaults
  /** Records per onRecords call of the changelog reader. */
  restoreChunkSize?: number
}

export interface MemoryTaskPorts extends TaskPorts {
  log: MemoryLog
  faults: MemoryFaults
  store: SnapshotStore
  changelog: MemoryChangelogReader
  /** Every producer created so far, oldest first. */
  producers: MemoryTransactionalProducer[]
  transactionalId: string
  groupId: string
}

/** TaskPorts over a MemoryLog, named like the Kafka ports (transactional id <app>-<commands>-<partition>). */
export function memoryTaskPorts(o: MemoryTaskPortsOptions): MemoryTaskPorts {
  const { topology, partition, log } = o
  log.createTopologyTopics(topology)
  const input = topology.topics.commands
  const groupId = topology.applicationId
  const transactionalId = `${topology.applicationId}-${input}-${partition}`
  const faults = o.faults ?? new MemoryFaults()
  const store = o.store ?? new MemorySnapshotStore()
  const producers: MemoryTransactionalProducer[] = []
  return {
    log,
    faults,
    store,
    producers,
    transactionalId,
    groupId,
    createProducer: () => {
      const p = new MemoryTransactionalProducer(log, {
        transactionalId,
        groupId,
        inputTopic: input,
        inputPartition: partition,
        faults,
      })
      producers.push(p)
      return p
    },
    readCommittedOffset: async () => log.committedOffset(groupId, input, partition),
    changelog: new MemoryChangelogReader(log, topology.topics.changelog, partition, o.restoreChunkSize),
    openStore: async () => store,
  }
}
