/**
 * In-memory twins of the task ports (src/runtime/ports.ts) over a MemoryLog, for tests without a broker:
 * the transactional producer and its open transaction, the changelog reader, a store whose next write can
 * fail, and memoryTaskPorts, which wires them like the Kafka ports.
 */
import pino from 'pino'
import { decode } from '../domain/codec.ts'
import type { EventEnvelope } from '../domain/envelopes.ts'
import { TaskFencedError } from '../errors.ts'
import type {
  ChangelogReader,
  ChangelogRecord,
  OpenTransaction,
  TaskPorts,
  TransactionalProducer,
} from '../runtime/ports.ts'
import type { OutputRecord, TopicPartition } from '../runtime/ports.ts'
import type { IndexedEvent } from '../state/event-index.ts'
import {
  MemorySnapshotStore,
  type Checkpoint,
  type SnapshotStore,
  type StoredSnapshot,
} from '../state/store.ts'
import type { Topology } from '../topology/loader.ts'
import { applyFault, MemoryFaults } from './memory-faults.ts'
import { toBuf, type MemoryLog } from './memory-log.ts'

export const silentLogger = pino({ level: 'silent' })

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
  readonly offsetsOptional = true

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

  async begin(): Promise<MemoryOpenTransaction> {
    this.checkUsable()
    return new MemoryOpenTransaction(this, this.log.beginTxn(this.o.transactionalId, this.epoch!))
  }

  async close(): Promise<void> {
    this.closed = true
  }
}

/** An open transaction of the twin; send/sendOffsets are public for tests of the twin itself. */
export class MemoryOpenTransaction implements OpenTransaction {
  constructor(
    private readonly producer: MemoryTransactionalProducer,
    readonly txn: number,
  ) {}

  private get log(): MemoryLog {
    return this.producer.log
  }

  /**
   * Records first, then the input offset if any (crash points 'before-send' and 'before-send-offsets' sit between).
   */
  async write(
    records: OutputRecord[],
    nextInputOffset: bigint | undefined,
    baseOffsetsOf: readonly TopicPartition[],
  ): Promise<(bigint | undefined)[]> {
    const bases = await this.send(records, baseOffsetsOf)
    if (nextInputOffset !== undefined) await this.sendOffsets(nextInputOffset)
    return bases
  }

  async send(
    records: OutputRecord[],
    baseOffsetsOf: readonly TopicPartition[],
  ): Promise<(bigint | undefined)[]> {
    const f = this.producer.faults.take('send')
    if (f?.kind === 'hook') await f.hook()
    this.producer.checkUsable()
    const bases: (bigint | undefined)[] = baseOffsetsOf.map(() => undefined)
    for (const r of records) {
      const partition = r.partition ?? this.log.partitionFor(r.topic, r.key)
      const offset = this.log.appendInTxn(this.txn, r.topic, partition, {
        key: toBuf(r.key),
        value: r.value,
        headers: { ...r.headers },
        timestamp: String(Date.now()),
      })
      const i = baseOffsetsOf.findIndex((tp) => tp.topic === r.topic && tp.partition === partition)
      if (i >= 0) bases[i] ??= BigInt(offset)
    }
    // An injected send failure happens after the records reached the log: only the abort hides them.
    if (f?.kind === 'error') throw f.error
    return bases
  }

  async sendOffsets(nextInputOffset: bigint): Promise<void> {
    await applyFault(this.producer.faults, 'sendOffsets')
    this.producer.checkUsable()
    const o = this.producer.o
    this.log.addOffsetsToTxn(this.txn, o.groupId, o.inputTopic, o.inputPartition, nextInputOffset.toString())
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

  async endOffset(): Promise<bigint> {
    return BigInt(this.log.lastStableOffset(this.topic, this.partition))
  }

  async read(
    from: bigint,
    to: bigint,
    onRecords: (records: ChangelogRecord[]) => Promise<void>,
    _timeoutMs: number,
  ): Promise<void> {
    if (from >= to) return
    this.reads++
    const records = this.log
      .read(this.topic, this.partition, {
        from: from.toString(),
        to: to.toString(),
        isolation: 'read_committed',
      })
      .map((r): ChangelogRecord => ({
        offset: BigInt(r.offset),
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

  override async write(
    snapshots: Iterable<StoredSnapshot>,
    checkpoint: Checkpoint,
    events?: readonly IndexedEvent[],
  ): Promise<void> {
    const e = this.nextWriteError
    if (e !== undefined) {
      this.nextWriteError = undefined
      throw e
    }
    return super.write(snapshots, checkpoint, events)
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
  events: MemoryChangelogReader
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
    readCommittedOffset: async () => {
      const committed = log.committedOffset(groupId, input, partition)
      return committed === undefined ? undefined : BigInt(committed)
    },
    changelog: new MemoryChangelogReader(log, topology.topics.changelog, partition, o.restoreChunkSize),
    events: new MemoryChangelogReader(log, topology.topics.events, partition, o.restoreChunkSize),
    openStore: async () => store,
  }
}

/** One aggregate's committed events in a partition of the events topic, as recorded, in version order. */
export function aggregateEvents(
  log: MemoryLog,
  topic: string,
  partition: number,
  aggregateId: string,
): EventEnvelope[] {
  const key = Buffer.from(aggregateId)
  const out: EventEnvelope[] = []
  for (const r of log.read(topic, partition))
    if (r.value !== null && r.key !== null && key.equals(r.key)) out.push(decode(r.value) as EventEnvelope)
  return out.sort((a, b) => a.version - b.version)
}
