/**
 * The task manager over in-memory ports: real Tasks on a MemoryLog, a fake consumer that records what the manager
 * asks of it (pause / resume / seek) and fetches from the log like the consumer loop does. Covers the races the
 * Kafka consumer loop can meet: assignment changes while a batch is in flight, a fenced task, a restart while the
 * previous task of the partition is still closing, and a revoked partition whose commit is in flight.
 */
import { describe, expect, it } from 'vitest'
import type { AnyDecider } from '../../src/domain/decider.ts'
import type { ReplyEnvelope } from '../../src/domain/envelopes.ts'
import { DecideFailedError, StaleSnapshotError } from '../../src/errors.ts'
import type { ConsumerControl } from '../../src/runtime/ports.ts'
import { partitionOf as murmur2PartitionOf } from '../../src/kafka/partitioner.ts'
import { Task } from '../../src/runtime/task.ts'
import { TaskManager, type RestartPolicy } from '../../src/runtime/task-manager.ts'
import { TaskState } from '../../src/runtime/task-state.ts'
import { MemorySnapshotStore, type Checkpoint } from '../../src/state/store.ts'
import type { IndexedEvent } from '../../src/state/event-index.ts'
import type { SnapshotRecord } from '../../src/domain/envelopes.ts'
import { MemoryLog } from '../../src/testing/memory-log.ts'
import { MemoryFaults } from '../../src/testing/memory-faults.ts'
import { memoryTaskPorts, silentLogger, type MemoryTaskPorts } from '../../src/testing/memory-ports.ts'
import { produceCommands, type CommandSpec } from '../../src/testing/records.ts'
import { fromDecider, type Topology } from '../../src/topology/loader.ts'
import bank from '../../topologies/bank-account.ts'

const NOW = Date.parse('2024-05-01T12:00:00.000Z')
const NO_DELAY: RestartPolicy = { afterInitFailure: () => 0, afterTaskFailure: 0, afterFenced: 0 }

/** A consumer that does what the manager asks and fetches from the MemoryLog as the Kafka consumer loop would. */
class FakeConsumer implements ConsumerControl {
  readonly paused = new Set<number>()
  readonly positions = new Map<number, bigint>()
  readonly calls: string[] = []
  pause(ps: readonly number[]): void {
    for (const p of ps) this.paused.add(p)
    this.calls.push(`pause ${ps.join(',')}`)
  }
  resume(ps: readonly number[]): void {
    for (const p of ps) this.paused.delete(p)
    this.calls.push(`resume ${ps.join(',')}`)
  }
  seek(p: number, offset: bigint): void {
    this.positions.set(p, offset)
    this.calls.push(`seek ${p}@${offset}`)
  }
}

/** A store whose close can be held open, and which logs opens and closes. */
class GatedStore extends MemorySnapshotStore {
  closeGate: Promise<void> | undefined
  constructor(
    private readonly log: string[],
    private readonly name: string,
  ) {
    super()
  }
  override async write(
    snapshots: Iterable<SnapshotRecord>,
    checkpoint: Checkpoint,
    events?: readonly IndexedEvent[],
  ): Promise<void> {
    this.log.push(`${this.name} write`)
    return super.write(snapshots, checkpoint, events)
  }
  override async close(): Promise<void> {
    await this.closeGate
    this.log.push(`${this.name} closed`)
  }
}

function setup(
  o: {
    partitions?: number
    autoRestart?: boolean
    onDecideError?: 'fail-command' | 'stop'
    sleep?: (ms: number) => Promise<unknown>
  } = {},
) {
  const topology: Topology = fromDecider(bank as unknown as AnyDecider, {
    name: 'bank',
    partitions: o.partitions ?? 2,
    ...(o.onDecideError ? { errors: { onDecideError: o.onDecideError } } : {}),
  })
  const log = new MemoryLog()
  log.createTopologyTopics(topology)
  const consumer = new FakeConsumer()
  const events: string[] = []
  const stores = new Map<number, GatedStore>()
  const faults = new Map<number, MemoryFaults>()
  const ports: MemoryTaskPorts[] = []
  const created: Task[] = []
  const fatal: Error[] = []
  const failed: { partition: number; error: unknown; restartInMs: number | undefined }[] = []
  /** Each initFailures report, with the stalls the manager reported at that moment. */
  const initFailures: [number, number, string[]][] = []
  let generation = 0
  const manager = new TaskManager({
    name: 'bank',
    consumer,
    logger: silentLogger,
    onFatal: (e) => fatal.push(e),
    restartPolicy: NO_DELAY,
    autoRestart: o.autoRestart ?? true,
    sleep: o.sleep ?? (async () => undefined),
    listener: {
      taskFailed: (partition, error, restartInMs) => failed.push({ partition, error, restartInMs }),
      initFailures: (partition, n) => initFailures.push([partition, n, manager.stalls()]),
    },
    createTask: (p) => {
      const gen = ++generation
      let store = stores.get(p)
      if (store === undefined) stores.set(p, (store = new GatedStore(events, `p${p}`)))
      let f = faults.get(p)
      if (f === undefined) faults.set(p, (f = new MemoryFaults()))
      const base = memoryTaskPorts({ topology, partition: p, log, store, faults: f })
      const tracked: MemoryTaskPorts = {
        ...base,
        openStore: async () => {
          events.push(`p${p} opened by task ${gen}`)
          return base.openStore()
        },
      }
      ports.push(tracked)
      const task = new Task({
        topology,
        partition: p,
        ports: tracked,
        logger: silentLogger,
        now: () => NOW,
        partitioner: murmur2PartitionOf,
      })
      created.push(task)
      return task
    },
  })

  /** One fetch of partition p from the consumer's position, handed to the manager (as the consumer loop does). */
  async function fetch(p: number): Promise<void> {
    if (consumer.paused.has(p)) return
    const from = consumer.positions.get(p) ?? 0n
    const records = log.inputRecords(topology.topics.commands, p, from)
    await manager.handleBatch(p, records, {
      current: () => true,
      committed: (last) => void consumer.positions.set(p, last + 1n),
    })
  }

  /** Fetches every unpaused partition until nothing is left (bounded). */
  async function drain(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      await manager.settled()
      let pending = false
      for (let p = 0; p < topology.definition.partitions; p++) {
        if (consumer.paused.has(p) || manager.tasks.get(p)?.state !== TaskState.RUNNING) continue
        const from = consumer.positions.get(p) ?? 0n
        if (log.inputRecords(topology.topics.commands, p, from).length === 0) continue
        pending = true
        await fetch(p)
      }
      if (!pending) return
    }
    throw new Error('drain: still records left after 100 rounds')
  }

  const partitionOf = (id: string) => log.partitionFor(topology.topics.commands, id)
  const send = (...specs: CommandSpec[]) => {
    for (const c of specs) produceCommands(log, topology.topics.commands, partitionOf(c.aggregateId!), [c])
  }
  const replies = () => log.values<ReplyEnvelope>(topology.topics.replies)
  return {
    topology,
    log,
    consumer,
    manager,
    events,
    stores,
    faults,
    ports,
    created,
    fatal,
    failed,
    initFailures,
    fetch,
    drain,
    send,
    replies,
    partitionOf,
  }
}

const create = (id: string): CommandSpec => ({
  aggregateId: id,
  commandId: `create-${id}`,
  type: 'CreateAccount',
  payload: { owner: id },
})
const deposit = (id: string, n: number): CommandSpec => ({
  aggregateId: id,
  commandId: `dep-${id}-${n}`,
  type: 'Deposit',
  payload: { amount: n },
})

/** An aggregate id whose commands go to partition p. */
function idOn(h: ReturnType<typeof setup>, p: number, prefix = 'acc'): string {
  for (let i = 0; i < 1000; i++) if (h.partitionOf(`${prefix}-${i}`) === p) return `${prefix}-${i}`
  throw new Error(`no id on partition ${p}`)
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void
  const wait = new Promise<void>((r) => (open = r))
  return { wait, open }
}

describe('TaskManager', () => {
  it('pauses new partitions until their task is RUNNING, then seeks to the resume offset and resumes', async () => {
    const h = setup()
    h.manager.assign([0, 1])
    expect(h.consumer.calls[0]).toBe('pause 0,1')
    expect(h.manager.isReady()).toBe(false)
    await h.manager.settled()
    expect(h.manager.isReady()).toBe(true)
    expect(h.consumer.paused.size).toBe(0)
    expect(h.consumer.calls).toEqual(expect.arrayContaining(['seek 0@0', 'resume 0', 'seek 1@0', 'resume 1']))
  })

  it('a batch for a partition whose task is not RUNNING pauses it and processes nothing', async () => {
    const h = setup()
    const a = idOn(h, 0)
    h.send(create(a))
    h.manager.assign([0])
    // The task is still initialising (nothing settled yet): the consumer must not hand it records.
    await h.manager.handleBatch(0, h.log.inputRecords(h.topology.topics.commands, 0, 0n), {
      current: () => true,
      committed: () => undefined,
    })
    expect(h.consumer.paused.has(0)).toBe(true)
    expect(h.replies()).toEqual([])
    await h.drain()
    expect(h.replies().map((r) => r.commandId)).toEqual([`create-${a}`])
  })

  it('keeps a retained task across an assignment change in the middle of its batch; the new partition starts; nothing is processed twice', async () => {
    const h = setup()
    const a = idOn(h, 0)
    const b = idOn(h, 1)
    h.manager.assign([0])
    await h.manager.settled()
    const task0 = h.manager.tasks.get(0)!
    h.send(create(a), deposit(a, 1))
    const held = gate()
    h.faults.get(0)!.beforeNext('commit', () => held.wait)
    const batch = h.fetch(0)
    await new Promise((r) => setTimeout(r, 5))
    // The group rebalanced while partition 0's transaction is open: 0 stays, 1 is new.
    h.manager.assign([0, 1])
    held.open()
    await batch
    h.send(create(b), deposit(a, 2))
    await h.drain()
    expect(h.manager.tasks.get(0)).toBe(task0)
    expect(h.manager.tasks.get(1)?.state).toBe(TaskState.RUNNING)
    const ids = h.replies().map((r) => r.commandId)
    expect(ids.sort()).toEqual([`create-${a}`, `create-${b}`, `dep-${a}-1`, `dep-${a}-2`].sort())
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('a revoked partition whose commit is in flight: the commit completes, then the task closes; the next owner resumes after it', async () => {
    const h = setup()
    const a = idOn(h, 0)
    h.manager.assign([0, 1])
    await h.manager.settled()
    const task0 = h.manager.tasks.get(0)!
    h.send(create(a), deposit(a, 1))
    const held = gate()
    h.faults.get(0)!.beforeNext('commit', () => held.wait)
    const batch = h.fetch(0)
    await new Promise((r) => setTimeout(r, 5))
    h.manager.assign([1]) // partition 0 revoked while its transaction is open
    expect(h.manager.tasks.has(0)).toBe(false)
    expect(task0.state).toBe(TaskState.RUNNING) // not cut in half: the close waits for the batch
    held.open()
    await batch
    await h.manager.settled()
    expect(task0.state).toBe(TaskState.CLOSED)
    // The commit happened before the store was released.
    expect(h.events.indexOf('p0 write')).toBeLessThan(h.events.indexOf('p0 closed'))
    expect(h.replies().map((r) => r.commandId)).toEqual([`create-${a}`, `dep-${a}-1`])
    // The partition comes back (a later rebalance): the new task resumes after the committed batch.
    h.send(deposit(a, 2))
    h.manager.assign([0, 1])
    await h.drain()
    expect(h.replies().map((r) => r.commandId)).toEqual([`create-${a}`, `dep-${a}-1`, `dep-${a}-2`])
    expect(h.consumer.calls).toContain('seek 0@2')
  })

  it('a fenced task is dropped and its partition paused; while still assigned, a fresh task takes it back and nothing is lost or doubled', async () => {
    const h = setup()
    const a = idOn(h, 0)
    h.manager.assign([0])
    await h.manager.settled()
    const first = h.manager.tasks.get(0)!
    h.send(create(a))
    await h.drain()
    // Another owner initialises the same transactional id (a zombie's successor).
    h.log.initProducerId(h.ports[0]!.transactionalId)
    h.send(deposit(a, 1))
    await h.fetch(0)
    expect(first.state).toBe(TaskState.CLOSED)
    expect(h.consumer.calls).toContain('pause 0')
    await h.drain()
    const second = h.manager.tasks.get(0)!
    expect(second).not.toBe(first)
    expect(second.state).toBe(TaskState.RUNNING)
    expect(h.replies().map((r) => r.commandId)).toEqual([`create-${a}`, `dep-${a}-1`])
  })

  it('a fenced task stays down without auto-restart, and is not restarted once the partition is revoked', async () => {
    const h = setup({ autoRestart: false })
    const a = idOn(h, 0)
    h.manager.assign([0])
    await h.manager.settled()
    h.log.initProducerId(h.ports[0]!.transactionalId)
    h.send(create(a))
    await h.fetch(0)
    await h.manager.settled()
    expect(h.manager.tasks.has(0)).toBe(false)
    expect(h.created).toHaveLength(1)
  })

  it('a restart while the previous task is still closing waits for that close (the store is released first)', async () => {
    const h = setup()
    h.manager.assign([0])
    await h.manager.settled()
    const held = gate()
    h.stores.get(0)!.closeGate = held.wait
    // Revoke, and get the partition back at once while the old task's store is still closing.
    h.manager.assign([])
    h.manager.assign([0])
    await new Promise((r) => setTimeout(r, 5))
    expect(h.events.filter((e) => e.startsWith('p0 opened'))).toEqual(['p0 opened by task 1'])
    held.open()
    await h.manager.settled()
    expect(h.events).toEqual(['p0 opened by task 1', 'p0 closed', 'p0 opened by task 2'])
    expect(h.manager.tasks.get(0)?.state).toBe(TaskState.RUNNING)
  })

  it('a failed initialisation closes the task and retries with a fresh one while the partition is assigned', async () => {
    const h = setup()
    h.faults.set(0, new MemoryFaults().failNext('init', new Error('broker unavailable')))
    h.manager.assign([0])
    await h.manager.settled()
    expect(h.failed.map((f) => [f.partition, (f.error as Error).message, f.restartInMs])).toEqual([
      [0, 'broker unavailable', 0],
    ])
    expect(h.created).toHaveLength(2)
    expect(h.created[0]!.state).toBe(TaskState.CLOSED)
    expect(h.manager.tasks.get(0)).toBe(h.created[1])
    expect(h.manager.isReady()).toBe(true)
  })

  it('a partition whose task fails to initialise again and again is reported as stalled until one starts', async () => {
    const h = setup()
    const faults = new MemoryFaults()
    for (let i = 0; i < 4; i++) faults.failNext('init', new Error('coordinator not available'))
    h.faults.set(0, faults)
    h.manager.assign([0, 1])
    await h.manager.settled()
    const stalled = ['partition 0: task initialisation failed 3 times in a row (coordinator not available)']
    expect(h.initFailures).toEqual([
      [0, 1, []],
      [0, 2, []],
      [0, 3, stalled],
      [0, 4, [stalled[0]!.replace('3 times', '4 times')]],
      [0, 0, []],
    ])
    expect(h.manager.isReady()).toBe(true)
    expect(h.manager.stalls()).toEqual([])
  })

  it('a task whose re-initialisation failed mid-batch is closed and replaced; the batch is redone once', async () => {
    const h = setup()
    const a = idOn(h, 0)
    h.manager.assign([0])
    await h.manager.settled()
    h.send(create(a))
    // The commit outcome is unknown (task-corrupted), and the re-initialisation that follows fails too.
    h.faults
      .get(0)!
      .failNext('commit', new Error('request timed out'))
      .failNext('init', new Error('coordinator not available'))
    await h.fetch(0)
    expect(h.consumer.paused.has(0)).toBe(true)
    expect(h.failed).toHaveLength(1)
    await h.drain()
    expect(h.manager.tasks.get(0)?.state).toBe(TaskState.RUNNING)
    expect(h.replies().map((r) => r.commandId)).toEqual([`create-${a}`])
  })

  it('decide failing under the stop policy pauses the partition and reports a fatal error', async () => {
    const h = setup({ onDecideError: 'stop' })
    const a = idOn(h, 0)
    h.manager.assign([0])
    await h.manager.settled()
    h.send(create(a))
    // What the task throws when decide throws under the `stop` policy (the processor tests cover that part).
    const task = h.manager.tasks.get(0)!
    const original = task.process.bind(task)
    task.process = () => Promise.reject(new DecideFailedError('decide threw'))
    await h.fetch(0)
    task.process = original
    expect(h.fatal.map((e) => e.message)).toEqual(['decide threw'])
    expect(h.consumer.paused.has(0)).toBe(true)
  })

  it('a stale snapshot the task cannot rebuild stops the worker too (not retried for ever)', async () => {
    const h = setup()
    const a = idOn(h, 0)
    h.manager.assign([0])
    await h.manager.settled()
    h.send(create(a))
    const task = h.manager.tasks.get(0)!
    const original = task.process.bind(task)
    task.process = () => Promise.reject(new StaleSnapshotError('run decider rebuild'))
    await h.fetch(0)
    task.process = original
    expect(h.fatal.map((e) => e.message)).toEqual(['run decider rebuild'])
    expect(h.consumer.paused.has(0)).toBe(true)
  })

  it('a retriable abort backs off and seeks the partition back to the batch start', async () => {
    const h = setup()
    const a = idOn(h, 0)
    h.manager.assign([0])
    await h.manager.settled()
    h.send(create(a), deposit(a, 1))
    h.faults.get(0)!.failNextSend(new Error('NOT_LEADER_FOR_PARTITION'))
    await h.fetch(0)
    await h.manager.settled()
    expect(h.consumer.calls.slice(-3)).toEqual(['pause 0', 'seek 0@0', 'resume 0'])
    expect(h.replies()).toEqual([])
    await h.drain()
    expect(h.replies().map((r) => r.commandId)).toEqual([`create-${a}`, `dep-${a}-1`])
  })

  it('a retriable abort backs off without holding the fetch: the partition is paused, other partitions go on, then it is sought back and resumed', async () => {
    const backoff = gate()
    const slept: number[] = []
    const h = setup({
      sleep: (ms) => {
        slept.push(ms)
        return backoff.wait
      },
    })
    const a = idOn(h, 0)
    const b = idOn(h, 1)
    h.manager.assign([0, 1])
    await h.manager.settled()
    h.send(create(a), create(b))
    h.faults.get(0)!.failNextSend(new Error('NOT_LEADER_FOR_PARTITION'))
    const before = h.consumer.calls.length
    // handleBatch returns while the backoff still runs (kafkajs' fetch of every partition waits for it).
    const returned = await Promise.race([
      h.fetch(0).then(() => 'returned'),
      new Promise((r) => setTimeout(() => r('still in the batch'), 100)),
    ])
    expect(returned).toBe('returned')
    expect(slept).toEqual([100])
    expect(h.consumer.paused.has(0)).toBe(true)
    // Meanwhile another partition's batch is handled.
    await h.fetch(1)
    expect(h.replies().map((r) => r.commandId)).toEqual([`create-${b}`])
    expect(h.consumer.calls.slice(before)).toEqual(['pause 0'])
    // After the backoff: seek to the batch start, then resume; the batch is redone.
    backoff.open()
    await h.manager.settled()
    expect(h.consumer.calls.slice(-2)).toEqual(['seek 0@0', 'resume 0'])
    await h.drain()
    expect(h.replies().map((r) => r.commandId)).toEqual([`create-${b}`, `create-${a}`])
  })

  it('a backoff that ends after its task was replaced neither seeks nor resumes the partition', async () => {
    const backoff = gate()
    const h = setup({ sleep: () => backoff.wait })
    const a = idOn(h, 0)
    h.manager.assign([0])
    await h.manager.settled()
    h.send(create(a))
    h.faults.get(0)!.failNextSend(new Error('NOT_LEADER_FOR_PARTITION'))
    await h.fetch(0)
    h.manager.assign([]) // revoked during the backoff
    backoff.open()
    await h.manager.settled()
    expect(h.consumer.calls.filter((c) => c.startsWith('seek 0') || c === 'resume 0')).toEqual([
      'seek 0@0',
      'resume 0',
    ]) // only the first task's initialisation
  })

  it('stop() lets the batch in flight commit, then closes every task', async () => {
    const h = setup()
    const a = idOn(h, 0)
    h.manager.assign([0, 1])
    await h.manager.settled()
    h.send(create(a))
    const held = gate()
    h.faults.get(0)!.beforeNext('commit', () => held.wait)
    const batch = h.fetch(0)
    await new Promise((r) => setTimeout(r, 5))
    const stopped = h.manager.stop()
    held.open()
    await Promise.all([batch, stopped])
    expect(h.replies().map((r) => r.commandId)).toEqual([`create-${a}`])
    expect(h.created.every((t) => t.state === TaskState.CLOSED)).toBe(true)
    expect(h.manager.isReady()).toBe(false)
  })
})
