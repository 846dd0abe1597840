/**
 * TopologyTestDriver: runs the REAL task manager and Task code (processor, commit sequence, restore, the outcome
 * policy) of a topology over the in-memory ports (MemoryLog for Kafka, MemoryConsumer for the consumer loop,
 * MemorySnapshotStore for LevelDB, a settable clock), one task per partition, without a broker. A test pipes
 * commands in and reads events, replies, snapshots and dead letters out (driver-outputs.ts); it can crash a
 * partition's task between two steps of the commit and restart it, to show that what the task then holds equals
 * the committed changelog (and the fold of the committed events).
 *
 *   const driver = await TopologyTestDriver.create(bank)               // or .fromFile('topologies/bank-account.yaml')
 *   const reply = await driver.pipe({ aggregateId: 'acc-1', type: 'CreateAccount', payload: { owner: 'Ada' } })
 *   driver.crashAt('after-commit'); await driver.pipe(deposit); await driver.restart()
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { CONTENT_TYPES, encode } from '../domain/codec.ts'
import type { AnyDecider, Decider, SchemaMap } from '../domain/decider.ts'
import {
  HEADERS,
  type CommandEnvelope,
  type ReplyEnvelope,
  type SnapshotRecord,
} from '../domain/envelopes.ts'
import { SimulatedCrash } from '../errors.ts'
import { Task } from '../runtime/task.ts'
import { TaskManager } from '../runtime/task-manager.ts'
import { TaskState } from '../runtime/task-state.ts'
import { fromDecider, loadTopology, type Topology } from '../topology/loader.ts'
import { partitionOf } from '../kafka/partitioner.ts'
import { CommittedOutputs } from './driver-outputs.ts'
import {
  armCrash,
  CrashableStore,
  type CrashPoint,
  type DeadLetter,
  type DriverCommand,
  type TopologyTestDriverOptions,
  type TypedDriverCommand,
} from './driver-types.ts'
import { MemoryConsumer } from './memory-consumer.ts'
import { MemoryFaults } from './memory-faults.ts'
import { MemoryLog } from './memory-log.ts'
import { memoryTaskPorts, silentLogger, type MemoryTaskPorts } from './memory-ports.ts'

export { SimulatedCrash }
export type { CrashPoint, DeadLetter, DriverCommand, TopologyTestDriverOptions, TypedDriverCommand }

interface PartitionState {
  store: CrashableStore
  /** The ports of the partition's newest task (its faults are where crashes are armed). */
  ports: MemoryTaskPorts | undefined
}

export class TopologyTestDriver<
  S = unknown,
  CM extends SchemaMap = SchemaMap,
  EM extends SchemaMap = SchemaMap,
> extends CommittedOutputs<S, EM> {
  /** The driver's clock (epoch ms), shared with its MemoryLog (record timestamps). */
  private readonly clock: { ms: number }
  private readonly partitions: PartitionState[]
  private readonly logger: Logger
  private readonly consumer: MemoryConsumer
  private readonly manager: TaskManager<Task>
  /** Partitions whose task died (a simulated crash); they stay down until restart(). */
  private readonly down = new Set<number>()
  /** Why the last start of a partition's task failed, when it did (restart() reports it). */
  private readonly failures = new Map<number, unknown>()

  private constructor(topology: Topology, o: TopologyTestDriverOptions) {
    const clock = { ms: o.startTime ?? Date.parse('2024-01-01T00:00:00.000Z') }
    super(topology, o.log ?? new MemoryLog({ now: () => clock.ms }))
    this.clock = clock
    this.log.createTopologyTopics(topology)
    this.logger = o.logger ?? silentLogger
    this.partitions = Array.from({ length: topology.definition.partitions }, () => ({
      store: new CrashableStore(),
      ports: undefined,
    }))
    this.consumer = new MemoryConsumer(this.log, topology.topics.commands)
    // The worker's task manager, with two differences a test needs: a failed or fenced task stays down until the
    // test restarts it (a crash is the process dying, not something the worker would retry), and backoffs take
    // no time.
    this.manager = new TaskManager({
      name: topology.definition.name,
      consumer: this.consumer,
      logger: this.logger,
      autoRestart: false,
      sleep: async () => undefined,
      onFatal: (e) => this.failures.set(-1, e),
      listener: {
        taskFailed: (p, e) => {
          this.failures.set(p, e)
          if (e instanceof SimulatedCrash) this.down.add(p)
        },
      },
      createTask: (p) => {
        const ps = this.partitions[p]!
        ps.ports = memoryTaskPorts({
          topology,
          partition: p,
          log: this.log,
          store: ps.store,
          faults: new MemoryFaults(),
        })
        return new Task({
          topology,
          partition: p,
          ports: ps.ports,
          logger: this.logger,
          now: () => this.clock.ms,
          partitioner: partitionOf,
        })
      },
    })
  }

  protected get allPartitions(): number[] {
    return this.partitions.map((_, p) => p)
  }

  /** Assigns every partition that is not down to the task manager and waits for their tasks. */
  private async assignLive(): Promise<void> {
    this.manager.assign(this.allPartitions.filter((p) => !this.down.has(p)))
    await this.manager.settled()
  }

  /** A driver for a decider given in code. */
  static async create<S, CM extends SchemaMap, EM extends SchemaMap>(
    decider: Decider<S, CM, EM>,
    o: TopologyTestDriverOptions = {},
  ): Promise<TopologyTestDriver<S, CM, EM>> {
    const topology = fromDecider(decider as unknown as AnyDecider, {
      name: 'test',
      partitions: 1,
      ...o.definition,
    })
    return TopologyTestDriver.of<S, CM, EM>(topology, o)
  }

  /** A driver for a topology file (YAML) and the decider module it names. */
  static async fromFile<S = any, CM extends SchemaMap = SchemaMap, EM extends SchemaMap = SchemaMap>(
    file: string,
    o: Omit<TopologyTestDriverOptions, 'definition'> = {},
  ): Promise<TopologyTestDriver<S, CM, EM>> {
    return TopologyTestDriver.of<S, CM, EM>(await loadTopology(file), o)
  }

  /**
   * A driver for an already loaded topology. Its tasks commit the input offset with every transaction
   * (processing.offsetCommitIntervalMs taken as 0), so the commit sequence, and the crash points in it, are the same
   * in every run; resuming after a crash does not depend on it (the changelog's offset marker says where).
   */
  static async of<S = any, CM extends SchemaMap = SchemaMap, EM extends SchemaMap = SchemaMap>(
    topology: Topology,
    o: TopologyTestDriverOptions = {},
  ): Promise<TopologyTestDriver<S, CM, EM>> {
    const definition = topology.definition
    const everyOffset: Topology = {
      ...topology,
      definition: { ...definition, processing: { ...definition.processing, offsetCommitIntervalMs: 0 } },
    }
    const driver = new TopologyTestDriver<S, CM, EM>(everyOffset, o)
    await driver.assignLive()
    driver.throwIfNotRunning(driver.allPartitions)
    return driver
  }

  // ---- clock -------------------------------------------------------------------------------------------

  /** The driver's clock (epoch ms): record timestamps and `recordedAt` of events. */
  now(): number {
    return this.clock.ms
  }
  advanceTime(ms: number): void {
    this.clock.ms += ms
  }
  setTime(epochMs: number): void {
    this.clock.ms = epochMs
  }

  // ---- input -------------------------------------------------------------------------------------------

  /** The partition an aggregate id goes to (kafkajs' default partitioner, as the CommandClient routes). */
  partitionOf(aggregateId: string): number {
    return partitionOf(aggregateId, this.partitions.length)
  }

  /** Writes a command to the commands topic (not processed yet: call process()). Returns its commandId. */
  send(command: TypedDriverCommand<CM> | DriverCommand<CM>): string {
    return this.write(command).commandId
  }

  /** send(), also saying where the command record was written (as the CommandClient's transport does). */
  private write(command: TypedDriverCommand<CM> | DriverCommand<CM>): {
    commandId: string
    at: { partition: number; offset: string }
  } {
    const commandId = command.commandId ?? randomUUID()
    const envelope: CommandEnvelope = {
      commandId,
      type: command.type,
      payload: command.payload,
      ...(command.expectedVersion !== undefined ? { expectedVersion: command.expectedVersion } : {}),
      ...(command.metadata !== undefined ? { metadata: command.metadata } : {}),
    }
    const s = this.topology.definition.serialization
    const at = this.log.produce(this.topology.topics.commands, {
      partition: this.partitionOf(command.aggregateId),
      key: command.aggregateId,
      value: encode(envelope, s),
      headers: { [HEADERS.contentType]: CONTENT_TYPES[s] },
    })
    return { commandId, at }
  }

  /**
   * Writes raw bytes to the commands topic (malformed input, foreign producers): to the key's partition as the
   * CommandClient routes it (keyless: 0), or to `partition` (a producer with another partitioner).
   */
  sendRaw(
    key: string | Buffer | null,
    value: Buffer | string | null,
    headers: Record<string, string> = {},
    partition?: number,
  ): void {
    this.log.produce(this.topology.topics.commands, {
      partition: partition ?? (key === null ? 0 : partitionOf(key, this.partitions.length)),
      key,
      value: typeof value === 'string' ? Buffer.from(value) : value,
      headers,
    })
  }

  /**
   * send + process; resolves with the command's reply (undefined when its task crashed before committing it): the
   * reply to this very record (its kd-source-* headers), as the CommandClient's sendAndWait matches it, not an
   * earlier send's reply with the same commandId.
   */
  async pipe(command: TypedDriverCommand<CM> | DriverCommand<CM>): Promise<ReplyEnvelope | undefined> {
    const { at } = this.write(command)
    await this.process()
    return this.replyTo(at)
  }

  /** Pipes commands one after the other; resolves with their replies. */
  async pipeAll(
    commands: (TypedDriverCommand<CM> | DriverCommand<CM>)[],
  ): Promise<(ReplyEnvelope | undefined)[]> {
    const out: (ReplyEnvelope | undefined)[] = []
    for (const c of commands) out.push(await this.pipe(c))
    return out
  }

  // ---- processing ----------------------------------------------------------------------------------------

  /**
   * Lets every running task process what is waiting on its partition, as the worker's consumer loop does
   * (fetch from the position, hand the batch to the task manager, which commits, retries or seeks). Crashed tasks
   * stay down until restart().
   */
  async process(): Promise<void> {
    for (let round = 0; round < 1000; round++) {
      await this.manager.settled()
      const waiting = this.allPartitions.filter(
        (p) => this.runningTask(p) !== undefined && this.consumer.hasWaiting(p),
      )
      if (waiting.length === 0) return
      for (const p of waiting) await this.consumer.poll(this.manager, p)
    }
    throw new Error('still not caught up after 1000 batches (a batch that keeps failing?)')
  }

  private runningTask(p: number): Task | undefined {
    const task = this.manager.tasks.get(p)
    return task?.state === TaskState.RUNNING ? task : undefined
  }

  /** A partition whose task could not start stays down: say why, as the worker's log would. */
  private throwIfNotRunning(parts: number[]): void {
    for (const p of parts) {
      if (this.down.has(p) || this.runningTask(p) !== undefined) continue
      const why = this.failures.get(p)
      throw new Error(
        `partition ${p}: its task did not start${why instanceof Error ? `: ${why.message}` : ''}`,
        { cause: why },
      )
    }
  }

  // ---- crashes and restarts ----------------------------------------------------------------------------

  /**
   * Arms a crash of a partition's task at `point` of its next commit (default: the partition of
   * `aggregateId`, else every partition). The task stops dead there: its open transaction stays open (the
   * next owner's InitProducerId aborts it), its store keeps what it had. restart() brings it back.
   */
  crashAt(point: CrashPoint, where: { partition?: number; aggregateId?: string } = {}): void {
    const parts =
      where.partition !== undefined
        ? [where.partition]
        : where.aggregateId !== undefined
          ? [this.partitionOf(where.aggregateId)]
          : this.partitions.map((_, i) => i)
    for (const p of parts) {
      const ps = this.partitions[p]!
      const faults = ps.ports?.faults
      if (!faults || this.runningTask(p) === undefined)
        throw new Error(`partition ${p} has no running task to crash`)
      armCrash(point, faults, ps.store)
    }
  }

  /**
   * Kills a partition's task now (between batches): the partition leaves this "process"; nothing is committed or
   * flushed that was not already (between batches the in-memory producer and store hold nothing more).
   */
  async crash(partition = 0): Promise<void> {
    this.down.add(partition)
    await this.assignLive()
  }

  /** Partitions whose task is down after a crash. */
  crashedPartitions(): number[] {
    return [...this.down].sort((a, b) => a - b)
  }

  /**
   * Starts a new task on every crashed partition (or the given ones, crashed or not; a running task is
   * closed first), with the store the old one left (`loseLocalState: true`: an empty store, as on a new
   * machine). The new task fences the old producer, restores the changelog tail, and resumes.
   * Then processes what is waiting, unless `process: false`.
   */
  async restart(
    o: { partitions?: number[]; loseLocalState?: boolean; process?: boolean } = {},
  ): Promise<void> {
    const parts = o.partitions ?? this.crashedPartitions()
    // Out of the assignment first (a running task closes), then back in with a fresh task.
    for (const p of parts) this.down.add(p)
    await this.assignLive()
    for (const p of parts) {
      this.down.delete(p)
      this.failures.delete(p)
      if (o.loseLocalState) this.partitions[p]!.store = new CrashableStore()
    }
    await this.assignLive()
    this.throwIfNotRunning(parts)
    if (o.process ?? true) await this.process()
  }

  /** Changelog records the last (re)start of each partition's task replayed (0 = clean restart). */
  restoredRecords(partition = 0): number {
    return this.manager.tasks.get(partition)?.lastRestoreRecords ?? 0
  }

  /** Closes every task (as a graceful shutdown). */
  async close(): Promise<void> {
    await this.manager.stop()
  }

  // ---- output --------------------------------------------------------------------------------------------

  /** The snapshot the aggregate's task holds as committed (its store, like LevelDB on the worker). */
  async snapshot(aggregateId: string): Promise<SnapshotRecord<S> | undefined> {
    const p = this.partitionOf(aggregateId)
    const [s] = await this.partitions[p]!.store.getMany([aggregateId])
    return s as SnapshotRecord<S> | undefined
  }

  /**
   * The state of an aggregate as its running task reads it (as the worker's HTTP read does: a snapshot of another
   * stateVersion is rebuilt from the events), else from its store; the initial state when it has none.
   */
  async state(aggregateId: string): Promise<S> {
    const task = this.runningTask(this.partitionOf(aggregateId))
    const snapshot = task ? await task.committedSnapshot(aggregateId) : await this.snapshot(aggregateId)
    return (snapshot?.state as S | undefined) ?? (this.topology.decider.initialState() as S)
  }

  /** Every snapshot in a partition's store, by aggregate id. */
  async storeSnapshots(partition?: number): Promise<Map<string, SnapshotRecord<S>>> {
    const out = new Map<string, SnapshotRecord<S>>()
    const parts = partition === undefined ? this.partitions : [this.partitions[partition]!]
    for (const ps of parts)
      for await (const s of ps.store.entries()) out.set(s.aggregateId, s as SnapshotRecord<S>)
    return out
  }
}
