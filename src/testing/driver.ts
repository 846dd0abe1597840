/**
 * TopologyTestDriver: runs the REAL Task code (processor, commit sequence, restore) of a topology over the
 * in-memory ports (MemoryLog for Kafka, MemorySnapshotStore for LevelDB, a settable clock), one task per
 * partition, without a broker. A test pipes commands in and reads events, replies, snapshots and dead
 * letters out; it can crash a partition's task between two steps of the commit and restart it, to show
 * that what the task then holds equals the committed changelog (and the fold of the committed events).
 *
 *   const driver = await TopologyTestDriver.create(bank)               // or .fromFile('topologies/bank-account.yaml')
 *   const reply = await driver.pipe({ aggregateId: 'acc-1', type: 'CreateAccount', payload: { owner: 'Ada' } })
 *   driver.crashAt('after-commit'); await driver.pipe(deposit); await driver.restart()
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { decode, encode } from '../domain/codec.ts'
import { CONTENT_TYPES } from '../domain/codec.ts'
import type { AnyDecider, Decider, MessageOf, SchemaMap } from '../domain/decider.ts'
import { HEADERS, OFFSET_MARKER_KEY, type CommandEnvelope, type EventEnvelope, type ReplyEnvelope, type SnapshotRecord } from '../domain/envelopes.ts'
import { SimulatedCrash } from '../errors.ts'
import { Task } from '../runtime/task.ts'
import { MemorySnapshotStore, type Checkpoint } from '../state/store.ts'
import { fromDecider, loadTopology, type Topology } from '../topology/loader.ts'
import type { TopologyInput } from '../topology/schema.ts'
import { partitionOf } from '../cli/partitioner.ts'
import { MemoryFaults } from './memory-faults.ts'
import { MemoryLog, type StoredRecord } from './memory-log.ts'
import { memoryTaskPorts, silentLogger, type MemoryTaskPorts } from './memory-ports.ts'

/** Where a simulated crash happens, in the order of the commit sequence (src/runtime/commit.ts). */
export type CrashPoint =
  /** Transaction begun, nothing sent. */
  | 'before-send'
  /** Events, replies and snapshots sent (in the open transaction), input offsets not yet. */
  | 'before-send-offsets'
  /** Everything sent, the transaction not committed. */
  | 'before-commit'
  /** The transaction committed in Kafka, the local store not written. */
  | 'after-commit'

export { SimulatedCrash }

export interface DriverCommand<CM extends SchemaMap = SchemaMap> {
  aggregateId: string
  type: MessageOf<CM>['type']
  payload: unknown
  commandId?: string
  expectedVersion?: number
  metadata?: CommandEnvelope['metadata']
}

/** A command typed by the decider's schemas: `{ aggregateId, type, payload }` with the payload of that type. */
export type TypedDriverCommand<CM extends SchemaMap> = MessageOf<CM> & Omit<DriverCommand<CM>, 'type' | 'payload'>

export interface DeadLetter {
  partition: number
  offset: string
  key: string | null
  value: Buffer | null
  errorCode: string | undefined
  errorMessage: string | undefined
  sourcePartition: number | undefined
  sourceOffset: string | undefined
}

export interface TopologyTestDriverOptions {
  /** Topology settings for a decider given in code (name defaults to "test"; partitions to 1). */
  definition?: Partial<TopologyInput>
  /** Start of the driver's clock (epoch ms); default 2024-01-01T00:00:00Z. */
  startTime?: number
  logger?: Logger
}

/** The snapshot store of one partition; a crash can be armed to hit its next write. */
class CrashableStore extends MemorySnapshotStore {
  crashNextWrite: (() => void) | undefined
  override async write(snapshots: Iterable<SnapshotRecord>, checkpoint: Checkpoint): Promise<void> {
    const crash = this.crashNextWrite
    if (crash) {
      this.crashNextWrite = undefined
      crash()
    }
    return super.write(snapshots, checkpoint)
  }
}

interface PartitionState {
  store: CrashableStore
  ports: MemoryTaskPorts | undefined
  task: Task | undefined
  crashed: boolean
}

export class TopologyTestDriver<S = unknown, CM extends SchemaMap = SchemaMap, EM extends SchemaMap = SchemaMap> {
  readonly log: MemoryLog
  private time: number
  private readonly partitions: PartitionState[]
  private readonly logger: Logger

  private constructor(
    readonly topology: Topology,
    o: TopologyTestDriverOptions,
  ) {
    this.time = o.startTime ?? Date.parse('2024-01-01T00:00:00.000Z')
    this.logger = o.logger ?? silentLogger
    this.log = new MemoryLog({ now: () => this.time })
    this.log.createTopologyTopics(topology)
    this.partitions = Array.from({ length: topology.definition.partitions }, () => ({
      store: new CrashableStore(),
      ports: undefined,
      task: undefined,
      crashed: false,
    }))
  }

  /** A driver for a decider given in code. */
  static async create<S, CM extends SchemaMap, EM extends SchemaMap>(
    decider: Decider<S, CM, EM>,
    o: TopologyTestDriverOptions = {},
  ): Promise<TopologyTestDriver<S, CM, EM>> {
    const topology = fromDecider(decider as unknown as AnyDecider, { name: 'test', partitions: 1, ...o.definition })
    return TopologyTestDriver.of<S, CM, EM>(topology, o)
  }

  /** A driver for a topology file (YAML) and the decider module it names. */
  static async fromFile<S = any, CM extends SchemaMap = SchemaMap, EM extends SchemaMap = SchemaMap>(
    file: string,
    o: Omit<TopologyTestDriverOptions, 'definition'> = {},
  ): Promise<TopologyTestDriver<S, CM, EM>> {
    return TopologyTestDriver.of<S, CM, EM>(await loadTopology(file), o)
  }

  /** A driver for an already loaded topology. */
  static async of<S = any, CM extends SchemaMap = SchemaMap, EM extends SchemaMap = SchemaMap>(
    topology: Topology,
    o: TopologyTestDriverOptions = {},
  ): Promise<TopologyTestDriver<S, CM, EM>> {
    const driver = new TopologyTestDriver<S, CM, EM>(topology, o)
    for (let p = 0; p < driver.partitions.length; p++) await driver.startTask(p)
    return driver
  }

  // ---- clock -------------------------------------------------------------------------------------------

  /** The driver's clock (epoch ms): record timestamps and `recordedAt` of events. */
  now(): number {
    return this.time
  }
  advanceTime(ms: number): void {
    this.time += ms
  }
  setTime(epochMs: number): void {
    this.time = epochMs
  }

  // ---- input -------------------------------------------------------------------------------------------

  /** The partition an aggregate id goes to (kafkajs' default partitioner, as the CommandClient routes). */
  partitionOf(aggregateId: string): number {
    return partitionOf(aggregateId, this.partitions.length)
  }

  /** Writes a command to the commands topic (not processed yet: call process()). Returns its commandId. */
  send(command: TypedDriverCommand<CM> | DriverCommand<CM>): string {
    const commandId = command.commandId ?? randomUUID()
    const envelope: CommandEnvelope = {
      commandId,
      type: command.type,
      payload: command.payload,
      ...(command.expectedVersion !== undefined ? { expectedVersion: command.expectedVersion } : {}),
      ...(command.metadata !== undefined ? { metadata: command.metadata } : {}),
    }
    const s = this.topology.definition.serialization
    this.log.produce(this.topology.topics.commands, {
      partition: this.partitionOf(command.aggregateId),
      key: command.aggregateId,
      value: encode(envelope, s),
      headers: { [HEADERS.contentType]: CONTENT_TYPES[s] },
    })
    return commandId
  }

  /** Writes raw bytes to the commands topic (malformed input, foreign producers). */
  sendRaw(key: string | null, value: Buffer | string | null, headers: Record<string, string> = {}): void {
    this.log.produce(this.topology.topics.commands, {
      partition: key === null ? 0 : this.partitionOf(key),
      key,
      value: typeof value === 'string' ? Buffer.from(value) : value,
      headers,
    })
  }

  /** send + process; resolves with the command's reply (undefined when its task crashed before committing it). */
  async pipe(command: TypedDriverCommand<CM> | DriverCommand<CM>): Promise<ReplyEnvelope | undefined> {
    const commandId = this.send(command)
    await this.process()
    return this.reply(commandId)
  }

  /** Pipes commands one after the other; resolves with their replies. */
  async pipeAll(commands: (TypedDriverCommand<CM> | DriverCommand<CM>)[]): Promise<(ReplyEnvelope | undefined)[]> {
    const out: (ReplyEnvelope | undefined)[] = []
    for (const c of commands) out.push(await this.pipe(c))
    return out
  }

  // ---- processing ----------------------------------------------------------------------------------------

  /**
   * Lets every running task process what is waiting on its partition, as the worker's consumer loop does
   * (fetch from the position, process, follow seeks). Crashed tasks stay down until restart().
   */
  async process(): Promise<void> {
    for (let p = 0; p < this.partitions.length; p++) await this.processPartition(p)
  }

  private async processPartition(p: number): Promise<void> {
    const ps = this.partitions[p]!
    for (let i = 0; i < 1000; i++) {
      const task = ps.task
      if (ps.crashed || task === undefined) return
      const records = this.log.inputRecords(this.topology.topics.commands, p, task.nextOffset)
      if (records.length === 0) return
      try {
        const outcome = await task.process(records, () => undefined)
        if (outcome.kind === 'fenced') {
          ps.task = undefined
          return
        }
        // 'seek' re-positions at task.nextOffset: the task moved it (re-initialised) or it is unchanged (retry).
      } catch (e) {
        if (e instanceof SimulatedCrash) {
          ps.crashed = true
          ps.task = undefined
          return
        }
        throw e
      }
    }
    throw new Error(`partition ${p}: still not caught up after 1000 batches (a batch that keeps failing?)`)
  }

  private async startTask(p: number, freshStore = false): Promise<Task> {
    const ps = this.partitions[p]!
    if (freshStore) ps.store = new CrashableStore()
    ps.ports = memoryTaskPorts({ topology: this.topology, partition: p, log: this.log, store: ps.store, faults: new MemoryFaults() })
    const task = new Task({ topology: this.topology, partition: p, ports: ps.ports, logger: this.logger, now: () => this.time })
    await task.initialize()
    ps.task = task
    ps.crashed = false
    return task
  }

  // ---- crashes and restarts ----------------------------------------------------------------------------

  /**
   * Arms a crash of a partition's task at `point` of its next commit (default: the partition of
   * `aggregateId`, else every partition). The task stops dead there: its open transaction stays open (the
   * next owner's InitProducerId aborts it), its store keeps what it had. restart() brings it back.
   */
  crashAt(point: CrashPoint, where: { partition?: number; aggregateId?: string } = {}): void {
    const parts = where.partition !== undefined ? [where.partition] : where.aggregateId !== undefined ? [this.partitionOf(where.aggregateId)] : this.partitions.map((_, i) => i)
    for (const p of parts) {
      const ps = this.partitions[p]!
      const faults = ps.ports?.faults
      if (!faults || !ps.task) throw new Error(`partition ${p} has no running task to crash`)
      const die = (): never => {
        // After the crash the task must not do anything more: its abort and re-initialisation fail too.
        faults.failNext('abort', new SimulatedCrash(`crashed at ${point}`))
        faults.failNext('init', new SimulatedCrash(`crashed at ${point}`))
        throw new SimulatedCrash(`crashed at ${point}`)
      }
      if (point === 'before-send') faults.beforeNext('send', die)
      else if (point === 'before-send-offsets') faults.beforeNext('sendOffsets', die)
      else if (point === 'before-commit') faults.beforeNext('commit', die)
      else ps.store.crashNextWrite = die
    }
  }

  /** Kills a partition's task now (between batches): nothing is closed or flushed. */
  crash(partition = 0): void {
    const ps = this.partitions[partition]!
    ps.task = undefined
    ps.crashed = true
  }

  /** Partitions whose task is down after a crash. */
  crashedPartitions(): number[] {
    return this.partitions.flatMap((ps, p) => (ps.crashed ? [p] : []))
  }

  /**
   * Starts a new task on every crashed partition (or the given ones, crashed or not; a running task is
   * closed first), with the store the old one left (`loseLocalState: true`: an empty store, as on a new
   * machine). The new task fences the old producer, restores the changelog tail, and resumes.
   * Then processes what is waiting, unless `process: false`.
   */
  async restart(o: { partitions?: number[]; loseLocalState?: boolean; process?: boolean } = {}): Promise<void> {
    const parts = o.partitions ?? this.crashedPartitions()
    for (const p of parts) {
      await this.partitions[p]!.task?.close()
      await this.startTask(p, o.loseLocalState ?? false)
    }
    if (o.process ?? true) await this.process()
  }

  /** Changelog records the last (re)start of each partition's task replayed (0 = clean restart). */
  restoredRecords(partition = 0): number {
    return this.partitions[partition]!.task?.lastRestoreRecords ?? 0
  }

  /** Closes every task (as a graceful shutdown). */
  async close(): Promise<void> {
    for (const ps of this.partitions) await ps.task?.close()
  }

  // ---- output --------------------------------------------------------------------------------------------

  private values<T>(topic: string): T[] {
    return this.log.values<T>(topic)
  }

  /** Committed replies (read_committed), in partition then offset order. */
  replies(): ReplyEnvelope[] {
    return this.values<ReplyEnvelope>(this.topology.topics.replies)
  }

  reply(commandId: string): ReplyEnvelope | undefined {
    const all = this.replies().filter((r) => r.commandId === commandId)
    return all[all.length - 1]
  }

  /** Committed events (read_committed); of one aggregate when given, in version order. */
  events(aggregateId?: string): (EventEnvelope & MessageOf<EM>)[] {
    const all = this.values<EventEnvelope & MessageOf<EM>>(this.topology.topics.events)
    return aggregateId === undefined ? all : all.filter((e) => e.aggregateId === aggregateId).sort((a, b) => a.version - b.version)
  }

  /** Committed dead letters with their error headers. */
  deadLetters(): DeadLetter[] {
    const h = (r: StoredRecord, k: string) => r.headers[k]?.toString()
    return this.log.readAll(this.topology.topics.deadLetters).map((r) => ({
      partition: r.partition,
      offset: r.offset,
      key: r.key?.toString() ?? null,
      value: r.value,
      errorCode: h(r, HEADERS.errorCode),
      errorMessage: h(r, HEADERS.errorMessage),
      sourcePartition: h(r, HEADERS.sourcePartition) === undefined ? undefined : Number(h(r, HEADERS.sourcePartition)),
      sourceOffset: h(r, HEADERS.sourceOffset),
    }))
  }

  /** The snapshot the aggregate's task holds as committed (its store, like LevelDB on the worker). */
  async snapshot(aggregateId: string): Promise<SnapshotRecord<S> | undefined> {
    const p = this.partitionOf(aggregateId)
    const [s] = await this.partitions[p]!.store.getMany([aggregateId])
    return s as SnapshotRecord<S> | undefined
  }

  /** The state of an aggregate in its task's store (initial state when it has none). */
  async state(aggregateId: string): Promise<S> {
    return ((await this.snapshot(aggregateId))?.state as S | undefined) ?? (this.topology.decider.initialState() as S)
  }

  /** Every snapshot in a partition's store, by aggregate id. */
  async storeSnapshots(partition?: number): Promise<Map<string, SnapshotRecord<S>>> {
    const out = new Map<string, SnapshotRecord<S>>()
    const parts = partition === undefined ? this.partitions : [this.partitions[partition]!]
    for (const ps of parts) for await (const s of ps.store.entries()) out.set(s.aggregateId, s as SnapshotRecord<S>)
    return out
  }

  /** The latest committed changelog snapshot per aggregate (what a restore from scratch would hold). */
  changelogSnapshots(partition?: number): Map<string, SnapshotRecord<S>> {
    const out = new Map<string, SnapshotRecord<S>>()
    const parts = partition === undefined ? this.partitions.map((_, i) => i) : [partition]
    for (const p of parts) {
      for (const r of this.log.read(this.topology.topics.changelog, p)) {
        const key = r.key?.toString()
        if (key === undefined || key === OFFSET_MARKER_KEY) continue
        if (r.value === null) out.delete(key)
        else out.set(key, decode(r.value, r.headers[HEADERS.contentType]?.toString()) as SnapshotRecord<S>)
      }
    }
    return out
  }

  /** The decider's fold of an aggregate's committed events. */
  foldedState(aggregateId: string): S {
    let state = this.topology.decider.initialState() as S
    for (const e of this.events(aggregateId)) state = this.topology.decider.evolve(state, e) as S
    return state
  }
}
