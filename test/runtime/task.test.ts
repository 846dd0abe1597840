import { describe, expect, it, vi } from 'vitest'
import type { AnyDecider } from '../../src/domain/decider.ts'
import {
  OFFSET_MARKER_KEY,
  type EventEnvelope,
  type ReplyEnvelope,
  type SnapshotRecord,
} from '../../src/domain/envelopes.ts'
import { DecideFailedError, IllegalTaskTransitionError, TaskFencedError } from '../../src/errors.ts'
import { Task, type ProcessOutcome } from '../../src/runtime/task.ts'
import { OFFSET_FLUSH_QUIET_MS } from '../../src/runtime/input-offset.ts'
import { checkTransition, TaskState } from '../../src/runtime/task-state.ts'
import { MemorySnapshotStore, type SnapshotStore } from '../../src/state/store.ts'
import { MemoryLog } from '../../src/testing/memory-log.ts'
import {
  FaultyMemoryStore,
  memoryTaskPorts,
  silentLogger,
  type MemoryTaskPorts,
} from '../../src/testing/memory-ports.ts'
import { produceCommands, type CommandSpec } from '../../src/testing/records.ts'
import { fromDecider, type Topology } from '../../src/topology/loader.ts'
import { fold } from '../../src/domain/decider.ts'
import bank from '../../topologies/bank-account.ts'
import inventory from '../../topologies/inventory.ts'

// A typed decider is not assignable to AnyDecider (reported separately): cast through unknown.
const anyDecider = (d: unknown) => d as AnyDecider
const P = 1
/** These tests write every command to partition P: a partitioner that routes every key there. */
const onP = () => P
const NOW = Date.parse('2024-05-01T12:00:00.000Z')

function bankTopology(maxBatchCommands = 3, extra: Partial<Topology['definition']> = {}): Topology {
  return fromDecider(anyDecider(bank), {
    name: 'bank',
    partitions: 2,
    processing: {
      maxBatchCommands,
      maxBytesPerPartition: 1_048_576,
      transactionTimeoutMs: 10_000,
      snapshotCacheSize: 100,
    },
    ...extra,
  })
}

interface Harness {
  log: MemoryLog
  topology: Topology
  ports: MemoryTaskPorts
  store: FaultyMemoryStore
  task: Task
}

function newTask(
  log: MemoryLog,
  topology: Topology,
  store: SnapshotStore = new FaultyMemoryStore(),
  restoreChunkSize?: number,
  // Long by default: a quiet-time offset commit in the middle of a test would change its transaction counts.
  offsetFlushQuietMs = 60_000,
) {
  const ports = memoryTaskPorts({
    topology,
    partition: P,
    log,
    store,
    ...(restoreChunkSize ? { restoreChunkSize } : {}),
  })
  const task = new Task({
    topology,
    partition: P,
    ports,
    logger: silentLogger,
    now: () => NOW,
    partitioner: onP,
    offsetFlushQuietMs,
  })
  return { ports, task }
}

function harness(topology = bankTopology(), offsetFlushQuietMs?: number): Harness {
  const log = new MemoryLog()
  const store = new FaultyMemoryStore()
  const { ports, task } = newTask(log, topology, store, undefined, offsetFlushQuietMs)
  return { log, topology, ports, store, task }
}

const create = (id: string): CommandSpec => ({
  aggregateId: id,
  commandId: `create-${id}`,
  type: 'CreateAccount',
  payload: { owner: id },
})
const deposit = (id: string, n: number, amount = 10): CommandSpec => ({
  aggregateId: id,
  commandId: `dep-${id}-${n}`,
  type: 'Deposit',
  payload: { amount },
})
const withdraw = (id: string, n: number, amount: number): CommandSpec => ({
  aggregateId: id,
  commandId: `wd-${id}-${n}`,
  type: 'Withdraw',
  payload: { amount },
})

const send = (h: { log: MemoryLog; topology: Topology }, cmds: CommandSpec[]) =>
  produceCommands(h.log, h.topology.topics.commands, P, cmds, h.topology.definition.serialization)
const input = (h: { log: MemoryLog; topology: Topology }, from = 0n) =>
  h.log.inputRecords(h.topology.topics.commands, P, from)
const visibleEvents = (h: { log: MemoryLog; topology: Topology }) =>
  h.log.values<EventEnvelope>(h.topology.topics.events)
const visibleReplies = (h: { log: MemoryLog; topology: Topology }) =>
  h.log.values<ReplyEnvelope>(h.topology.topics.replies)

/** A consumer loop: fetch from the position, process, follow seeks; returns every outcome. */
async function drive(
  h: { log: MemoryLog; topology: Topology },
  task: Task,
  from = task.nextOffset,
): Promise<ProcessOutcome[]> {
  const outcomes: ProcessOutcome[] = []
  let position = from
  for (let i = 0; i < 20; i++) {
    const records = input(h, position)
    if (records.length === 0) break
    const outcome = await task.process(records, () => undefined)
    outcomes.push(outcome)
    if (outcome.kind === 'fenced') break
    if (outcome.kind === 'seek') position = outcome.offset
    else position = records[records.length - 1]!.offset + 1n
  }
  return outcomes
}

async function snapshotsOf(store: SnapshotStore): Promise<SnapshotRecord[]> {
  const out: SnapshotRecord[] = []
  for await (const s of store.entries()) out.push(s)
  return out.sort((a, b) => a.aggregateId.localeCompare(b.aggregateId))
}

/** Exactly-once check on the visible events: unique ids, versions 1..n per aggregate. */
function expectContiguous(events: EventEnvelope[]): Map<string, EventEnvelope[]> {
  const ids = events.map((e) => e.eventId)
  expect(new Set(ids).size).toBe(ids.length)
  const by = new Map<string, EventEnvelope[]>()
  for (const e of events) by.set(e.aggregateId, [...(by.get(e.aggregateId) ?? []), e])
  for (const list of by.values()) expect(list.map((e) => e.version)).toEqual(list.map((_, i) => i + 1))
  return by
}

const workload = [create('a'), deposit('a', 1), create('b'), withdraw('b', 1, 5), deposit('a', 2)]

describe('Task over in-memory ports', () => {
  it('initialize on empty state -> RUNNING at offset 0 with nothing restored', async () => {
    const h = harness()
    const states: string[] = []
    const t = new Task({
      topology: h.topology,
      partition: P,
      ports: h.ports,
      logger: silentLogger,
      partitioner: onP,
      listener: { stateChanged: (_t, _f, to) => states.push(to) },
    })
    expect(t.state).toBe(TaskState.CREATED)
    expect(await t.initialize()).toBe(0n)
    expect(t.state).toBe(TaskState.RUNNING)
    expect(states).toEqual(['INITIALIZING', 'RESTORING', 'RUNNING'])
    expect(t.lastRestoreRecords).toBe(0)
    expect(h.ports.changelog.reads).toBe(0)
  })

  it('process: events, replies and changelog become visible read_committed; checkpoint and group offset advance', async () => {
    const h = harness(bankTopology(), OFFSET_FLUSH_QUIET_MS)
    await h.task.initialize()
    send(h, workload)
    const committed: bigint[] = []
    const outcome = await h.task.process(input(h), (o) => void committed.push(o))
    expect(outcome).toEqual({ kind: 'done' })
    expect(committed).toEqual([2n, 4n]) // maxBatchCommands 3: two transactions
    expect(h.log.transactionCounts()).toEqual({ open: 0, committed: 2, aborted: 0 })

    const events = visibleEvents(h)
    expect(events.map((e) => `${e.aggregateId}@${e.version}:${e.type}`)).toEqual([
      'a@1:AccountCreated',
      'a@2:MoneyDeposited',
      'b@1:AccountCreated',
      'a@3:MoneyDeposited',
    ])
    // events are co-partitioned with the input
    expect(h.log.read(h.topology.topics.events, 0)).toEqual([])
    const replies = visibleReplies(h)
    expect(replies.map((r) => r.status).sort()).toEqual([
      'accepted',
      'accepted',
      'accepted',
      'accepted',
      'rejected',
    ])

    const changelog = h.log.read(h.topology.topics.changelog, P)
    expect(changelog.filter((r) => r.key?.toString() === OFFSET_MARKER_KEY)).toHaveLength(2)
    // The first transaction carried the input offset, the second did not (within offsetCommitIntervalMs)...
    expect(h.log.committedOffset(h.topology.applicationId, h.topology.topics.commands, P)).toBe('3')
    const cp = await h.store.readCheckpoint()
    expect(cp?.inputOffset).toBe(4n)
    // the checkpoint points just after the last data record of the changelog (at the commit marker)
    expect(cp?.changelogOffset).toBe(BigInt(changelog[changelog.length - 1]!.offset) + 1n)
    expect(h.log.raw(h.topology.topics.changelog, P)[Number(cp!.changelogOffset)]?.control).toBe('commit')
    expect(h.task.nextOffset).toBe(5n)
    expect((await h.task.committedSnapshot('a'))?.state).toEqual({ status: 'open', owner: 'a', balance: 20 })
    expect((await h.store.getMany(['b']))[0]).toMatchObject({ version: 1, sourceOffset: '3' })
    // ...and once the partition is quiet, a transaction of its own commits it.
    await vi.waitFor(
      () => expect(h.log.committedOffset(h.topology.applicationId, h.topology.topics.commands, P)).toBe('5'),
      { timeout: 5000, interval: 20 },
    )
    expect(h.log.transactionCounts()).toEqual({ open: 0, committed: 3, aborted: 0 })
  })

  it('records below nextOffset (re-delivered) are skipped', async () => {
    const h = harness()
    await h.task.initialize()
    send(h, workload)
    await h.task.process(input(h), () => undefined)
    expect(await h.task.process(input(h), () => undefined)).toEqual({ kind: 'done' })
    expect(h.log.transactionCounts().committed).toBe(2)
    expect(visibleEvents(h)).toHaveLength(4)
  })

  it('the same records handed over twice at once (overlapping eachBatch calls) are processed once', async () => {
    const h = harness()
    await h.task.initialize()
    send(h, workload)
    const records = input(h)
    const [first, second] = await Promise.all([
      h.task.process(records, () => undefined),
      h.task.process(records, () => undefined),
    ])
    expect(first).toEqual({ kind: 'done' })
    expect(second).toEqual({ kind: 'done' })
    expect(visibleEvents(h)).toHaveLength(4)
    expect(
      visibleReplies(h)
        .map((r) => r.commandId)
        .sort(),
    ).toEqual(workload.map((c) => c.commandId).sort())
  })

  it('restart with the same store restores 0 records and resumes at the right offset', async () => {
    const h = harness()
    await h.task.initialize()
    send(h, workload)
    await h.task.process(input(h), () => undefined)
    await h.task.close()
    expect(h.task.state).toBe(TaskState.CLOSED)

    const { task } = newTask(h.log, h.topology, h.store)
    expect(await task.initialize()).toBe(5n)
    expect(task.lastRestoreRecords).toBe(0)
    send(h, [deposit('a', 3), deposit('b', 2)])
    await drive(h, task)
    expectContiguous(visibleEvents(h))
    expect((await task.committedSnapshot('a'))?.version).toBe(4)
  })

  it('a new task with an EMPTY store restores everything from the changelog and has identical snapshots', async () => {
    const h = harness()
    await h.task.initialize()
    send(h, workload)
    await h.task.process(input(h), () => undefined)

    const empty = new MemorySnapshotStore()
    const { task } = newTask(h.log, h.topology, empty, 2) // small chunks: several restore writes
    expect(await task.initialize()).toBe(5n)
    const dataRecords = h.log.read(h.topology.topics.changelog, P).length
    expect(task.lastRestoreRecords).toBe(dataRecords)
    expect(await snapshotsOf(empty)).toEqual(await snapshotsOf(h.store))
    expect(await empty.readCheckpoint()).toEqual(await h.store.readCheckpoint())
    // and the next restart from that store restores nothing
    const again = newTask(h.log, h.topology, empty).task
    await again.initialize()
    expect(again.lastRestoreRecords).toBe(0)
  })

  it('a stale committed group offset -> resumes at marker+1, nothing is processed twice', async () => {
    const h = harness()
    await h.task.initialize()
    send(h, workload)
    await h.task.process(input(h), () => undefined)
    await h.task.close()
    h.log.setCommittedOffset(h.topology.applicationId, h.topology.topics.commands, P, '1')

    for (const store of [h.store, new MemorySnapshotStore()]) {
      const { task } = newTask(h.log, h.topology, store)
      expect(await task.initialize()).toBe(5n)
      await task.process(input(h, 1n), () => undefined)
      await task.close()
    }
    // Two transactions wrote the batches (an offset marker each); the others only committed the input offset: the
    // first task's on close, the next one's to repair the stale '1' it read.
    const markers = h.log
      .read(h.topology.topics.changelog, P)
      .filter((r) => r.key?.toString() === OFFSET_MARKER_KEY)
    expect(markers).toHaveLength(2)
    expect(h.log.transactionCounts()).toEqual({ open: 0, committed: 4, aborted: 0 })
    expect(h.log.committedOffset(h.topology.applicationId, h.topology.topics.commands, P)).toBe('5')
    expect(visibleEvents(h)).toHaveLength(4)
  })

  it('no committed group offset at all (e.g. expired) -> still resumes after the marker', async () => {
    const h = harness()
    await h.task.initialize()
    send(h, workload)
    await h.task.process(input(h), () => undefined)
    h.log.setCommittedOffset(h.topology.applicationId, h.topology.topics.commands, P, undefined)
    const { task } = newTask(h.log, h.topology, new MemorySnapshotStore())
    expect(await task.initialize()).toBe(5n)
  })

  describe('the input offset in some transactions only (processing.offsetCommitIntervalMs)', () => {
    const withInterval = (offsetCommitIntervalMs: number) =>
      fromDecider(anyDecider(bank), {
        name: 'bank',
        partitions: 2,
        processing: { maxBatchCommands: 3, snapshotCacheSize: 100, offsetCommitIntervalMs },
      })
    const groupOffset = (h: Harness) =>
      h.log.committedOffset(h.topology.applicationId, h.topology.topics.commands, P)
    /** The group's committed offset right after each transaction of one process() call. */
    const offsetsAfterEach = async (h: Harness, from = 0n) => {
      const seen: (string | undefined)[] = []
      expect(await h.task.process(input(h, from), () => void seen.push(groupOffset(h)))).toEqual({
        kind: 'done',
      })
      return seen
    }

    it('0: every transaction carries it', async () => {
      const h = harness(withInterval(0))
      await h.task.initialize()
      send(h, workload)
      expect(await offsetsAfterEach(h)).toEqual(['3', '5'])
      expect(h.log.transactionCounts()).toEqual({ open: 0, committed: 2, aborted: 0 })
    })

    it('the first transaction of an interval carries it, the next ones leave it to the marker', async () => {
      const h = harness(withInterval(300))
      await h.task.initialize()
      send(h, workload)
      expect(await offsetsAfterEach(h)).toEqual(['3', '3'])
      await new Promise((r) => setTimeout(r, 350))
      send(h, [deposit('a', 7), deposit('a', 8), deposit('a', 9), deposit('a', 10)])
      expect(await offsetsAfterEach(h, 5n)).toEqual(['8', '8'])
      expect(h.log.transactionCounts()).toEqual({ open: 0, committed: 4, aborted: 0 })
      // Resuming never depended on it: a new owner starts after the marker, nothing twice.
      const { task } = newTask(h.log, h.topology, new MemorySnapshotStore())
      expect(await task.initialize()).toBe(9n)
      expect(expectContiguous(visibleEvents(h)).get('a')).toHaveLength(7)
    })

    it('a producer that cannot leave it out gets it in every transaction', async () => {
      const h = harness(withInterval(60_000))
      const create = h.ports.createProducer.bind(h.ports)
      h.ports.createProducer = () => Object.assign(create(), { offsetsOptional: false })
      await h.task.initialize()
      send(h, workload)
      expect(await offsetsAfterEach(h)).toEqual(['3', '5'])
    })

    it('a quiet partition commits it in a transaction of its own, after OFFSET_FLUSH_QUIET_MS', async () => {
      const h = harness(withInterval(60_000), 30)
      await h.task.initialize()
      send(h, workload)
      expect(await offsetsAfterEach(h)).toEqual(['3', '3'])
      await vi.waitFor(() => expect(groupOffset(h)).toBe('5'), { timeout: 5000, interval: 10 })
      expect(h.log.transactionCounts()).toEqual({ open: 0, committed: 3, aborted: 0 })
      // Nothing behind any more: no further transaction.
      await new Promise((r) => setTimeout(r, 100))
      expect(h.log.transactionCounts().committed).toBe(3)
    })

    it('close commits it; fenced meanwhile, the quiet commit closes the task', async () => {
      const h = harness(withInterval(60_000))
      await h.task.initialize()
      send(h, workload)
      await h.task.process(input(h), () => undefined)
      await h.task.close()
      expect(groupOffset(h)).toBe('5')

      const g = harness(withInterval(60_000), 30)
      await g.task.initialize()
      send(g, workload)
      expect(await offsetsAfterEach(g)).toEqual(['3', '3'])
      // Another owner initialises the partition's producer: the quiet commit is fenced, and the task closes.
      await newTask(g.log, g.topology, new MemorySnapshotStore()).task.initialize()
      await vi.waitFor(() => expect(g.task.state).toBe(TaskState.CLOSED), { timeout: 5000, interval: 10 })
      expect(groupOffset(g)).toBe('3')
    })

    it('a quiet commit whose outcome is unknown makes the next batch re-initialise first', async () => {
      const h = harness(withInterval(60_000), 30)
      await h.task.initialize()
      send(h, workload)
      expect(await offsetsAfterEach(h)).toEqual(['3', '3'])
      h.ports.faults.failNextCommit()
      await vi.waitFor(() => expect(h.log.transactionCounts().open).toBe(1), { timeout: 5000, interval: 10 })
      send(h, [deposit('a', 7)])
      const outcome = await h.task.process(input(h, 5n), () => undefined)
      // Re-initialised (the open transaction aborted): resume after the marker, then the new command once.
      expect(outcome).toEqual({ kind: 'seek', offset: 5n, backoffMs: 0 })
      expect(h.log.transactionCounts()).toEqual({ open: 0, committed: 2, aborted: 1 })
      await drive(h, h.task, 5n)
      expect(expectContiguous(visibleEvents(h)).get('a')).toHaveLength(4)
      await vi.waitFor(() => expect(groupOffset(h)).toBe('6'), { timeout: 5000, interval: 10 })
    })
  })

  it('a failure in send -> seek to the chunk start, nothing visible, and the retry succeeds exactly once', async () => {
    const h = harness(bankTopology(2))
    await h.task.initialize()
    send(h, [create('a'), deposit('a', 1), deposit('a', 2), deposit('a', 3)])
    expect(await h.task.process(input(h).slice(0, 2), () => undefined)).toEqual({ kind: 'done' })
    h.ports.faults.failNextSend()
    const outcome = await h.task.process(input(h, 2n), () => undefined)
    expect(outcome).toMatchObject({ kind: 'seek', offset: 2n })
    expect((outcome as { backoffMs: number }).backoffMs).toBeGreaterThan(0)
    // the records reached the log but the abort hid them
    expect(h.log.read(h.topology.topics.events, P, { isolation: 'read_uncommitted' })).toHaveLength(4)
    expect(visibleEvents(h)).toHaveLength(2)
    expect(h.log.transactionCounts()).toEqual({ open: 0, committed: 1, aborted: 1 })
    expect(h.log.committedOffset(h.topology.applicationId, h.topology.topics.commands, P)).toBe('2')
    expect((await h.store.readCheckpoint())?.inputOffset).toBe(1n)
    expect(h.task.nextOffset).toBe(2n)

    expect(await h.task.process(input(h, 2n), () => undefined)).toEqual({ kind: 'done' })
    const by = expectContiguous(visibleEvents(h))
    expect(by.get('a')).toHaveLength(4)
    expect((await h.task.committedSnapshot('a'))?.state).toMatchObject({ balance: 30 })
    expect(visibleReplies(h)).toHaveLength(4)
  })

  it('send fails and then the abort fails too -> re-initialise (the new producer ends the transaction), redo once', async () => {
    const h = harness()
    await h.task.initialize()
    send(h, workload)
    h.ports.faults.failNextSend().failNext('abort')
    expect(await h.task.process(input(h), () => undefined)).toEqual({
      kind: 'seek',
      offset: 0n,
      backoffMs: 0,
    })
    expect(h.log.transactionCounts()).toEqual({ open: 0, committed: 0, aborted: 1 })
    expect(visibleEvents(h)).toEqual([])
    await drive(h, h.task, 0n)
    expect(visibleEvents(h)).toHaveLength(4)
    expectContiguous(visibleEvents(h))
  })

  it('a changelog ending in an aborted transaction restores correctly into an empty store and resumes after the last commit', async () => {
    const h = harness(bankTopology(2))
    await h.task.initialize()
    send(h, [create('a'), deposit('a', 1), deposit('a', 2)])
    await h.task.process(input(h).slice(0, 2), () => undefined)
    h.ports.faults.failNextSend()
    expect(await h.task.process(input(h, 2n), () => undefined)).toMatchObject({ kind: 'seek', offset: 2n })
    await h.task.close()
    const empty = new MemorySnapshotStore()
    const { task } = newTask(h.log, h.topology, empty)
    expect(await task.initialize()).toBe(2n)
    expect(await snapshotsOf(empty)).toEqual(await snapshotsOf(h.store))
    await drive(h, task)
    expect(expectContiguous(visibleEvents(h)).get('a')).toHaveLength(3)
  })

  it('a failure in sendOffsets -> aborted and retried exactly once', async () => {
    const h = harness()
    await h.task.initialize()
    send(h, workload)
    h.ports.faults.failNextSendOffsets()
    expect(await h.task.process(input(h), () => undefined)).toMatchObject({ kind: 'seek', offset: 0n })
    expect(visibleEvents(h)).toEqual([])
    expect(visibleReplies(h)).toEqual([])
    expect(h.log.committedOffset(h.topology.applicationId, h.topology.topics.commands, P)).toBeUndefined()
    await drive(h, h.task, 0n)
    expect(visibleEvents(h)).toHaveLength(4)
    expect(visibleReplies(h)).toHaveLength(5)
  })

  it('commit outcome unknown (it did commit) -> re-initialise, seek past the batch, no duplicates', async () => {
    const h = harness()
    await h.task.initialize()
    send(h, workload)
    h.ports.faults.commitOutcomeUnknownNext()
    const outcome = await h.task.process(input(h), () => undefined)
    expect(outcome).toEqual({ kind: 'seek', offset: 3n, backoffMs: 0 })
    expect(h.task.state).toBe(TaskState.RUNNING)
    expect(h.ports.producers).toHaveLength(2)
    expect(h.ports.producers[0]!.fenced).toBe(true)
    expect(h.task.lastRestoreRecords).toBeGreaterThan(0) // the store caught up from the changelog
    expect((await h.store.readCheckpoint())?.inputOffset).toBe(2n)

    await drive(h, h.task, outcome.kind === 'seek' ? outcome.offset : 0n)
    expect(h.log.transactionCounts()).toEqual({ open: 0, committed: 2, aborted: 0 })
    const by = expectContiguous(visibleEvents(h))
    expect(by.get('a')!.map((e) => e.type)).toEqual(['AccountCreated', 'MoneyDeposited', 'MoneyDeposited'])
    expect(visibleReplies(h)).toHaveLength(5)
    expect((await h.task.committedSnapshot('a'))?.state).toMatchObject({ balance: 20 })
  })

  it('commit failed without committing -> re-initialise (aborting it) and redo the chunk exactly once', async () => {
    const h = harness()
    await h.task.initialize()
    send(h, workload)
    h.ports.faults.failNextCommit()
    const outcome = await h.task.process(input(h), () => undefined)
    expect(outcome).toEqual({ kind: 'seek', offset: 0n, backoffMs: 0 })
    expect(h.log.transactionCounts()).toEqual({ open: 0, committed: 0, aborted: 1 })
    expect(visibleEvents(h)).toEqual([])
    await drive(h, h.task, 0n)
    expectContiguous(visibleEvents(h))
    expect(visibleEvents(h)).toHaveLength(4)
  })

  it('store write failure after the commit -> re-initialise; the store catches up from the changelog', async () => {
    const h = harness()
    await h.task.initialize()
    send(h, workload)
    h.store.failNextWrite()
    const outcome = await h.task.process(input(h), () => undefined)
    expect(outcome).toEqual({ kind: 'seek', offset: 3n, backoffMs: 0 })
    expect(h.task.lastRestoreRecords).toBeGreaterThan(0)
    expect((await h.store.readCheckpoint())?.inputOffset).toBe(2n)
    expect((await h.store.getMany(['a']))[0]).toMatchObject({ version: 2 })
    await drive(h, h.task, 3n)
    expectContiguous(visibleEvents(h))
    expect(visibleEvents(h)).toHaveLength(4)
    // the recovered store equals one rebuilt from scratch
    const fresh = new MemorySnapshotStore()
    await newTask(h.log, h.topology, fresh).task.initialize()
    expect(await snapshotsOf(fresh)).toEqual(await snapshotsOf(h.store))
  })

  it('zombie: once B initialises, A is fenced on its next process and its outputs are invisible', async () => {
    const log = new MemoryLog()
    const topology = bankTopology(10)
    const h = { log, topology }
    const a = newTask(log, topology)
    await a.task.initialize()
    send(h, [create('a'), deposit('a', 1)])
    await a.task.process(input(h), () => undefined)

    const b = newTask(log, topology)
    expect(await b.task.initialize()).toBe(2n)
    send(h, [deposit('a', 2)])
    expect(await a.task.process(input(h, 2n), () => undefined)).toEqual({ kind: 'fenced' })
    expect(a.task.state).toBe(TaskState.CLOSED)
    expect(visibleEvents(h)).toHaveLength(2)
    expect(log.read(topology.topics.events, P, { isolation: 'read_uncommitted' })).toHaveLength(2)

    await drive(h, b.task)
    const by = expectContiguous(visibleEvents(h))
    expect(by.get('a')).toHaveLength(3)
  })

  it('zombie with an open transaction: B initialising aborts it, A is fenced at commit, B does the work once', async () => {
    const log = new MemoryLog()
    const topology = bankTopology(10)
    const h = { log, topology }
    const a = newTask(log, topology)
    const b = newTask(log, topology)
    await a.task.initialize()
    send(h, [create('a'), deposit('a', 1)])
    let resumeAt = -1n
    a.ports.faults.beforeNext('commit', async () => {
      resumeAt = await b.task.initialize()
    })
    expect(await a.task.process(input(h), () => undefined)).toEqual({ kind: 'fenced' })
    expect(resumeAt).toBe(0n)
    expect(log.transactionCounts()).toEqual({ open: 0, committed: 0, aborted: 1 })
    expect(visibleEvents(h)).toEqual([])
    await drive(h, b.task)
    expect(visibleEvents(h).map((e) => e.eventId)).toEqual(['a@1', 'a@2'])
  })

  it('a fenced producer cannot commit even when it still holds a transaction object', async () => {
    const log = new MemoryLog()
    const topology = bankTopology()
    const a = newTask(log, topology).ports.createProducer()
    await a.init()
    const txn = await a.begin()
    const b = newTask(log, topology).ports.createProducer()
    await b.init()
    await expect(txn.commit()).rejects.toBeInstanceOf(TaskFencedError)
    await expect(
      txn.write([], 0n, [{ topic: topology.topics.changelog, partition: P }]),
    ).rejects.toBeInstanceOf(TaskFencedError)
  })

  it("decide throwing under 'stop' propagates DecideFailedError and commits nothing", async () => {
    const throwing = {
      ...bank,
      decide: () => {
        throw new Error('bug')
      },
    }
    const topology = fromDecider(anyDecider(throwing), {
      name: 'bank',
      partitions: 2,
      errors: { onDecideError: 'stop' },
    })
    const h = harness(topology)
    await h.task.initialize()
    send(h, [create('a')])
    await expect(h.task.process(input(h), () => undefined)).rejects.toBeInstanceOf(DecideFailedError)
    expect(h.log.transactionCounts().committed).toBe(0)
    expect(h.log.committedOffset(topology.applicationId, topology.topics.commands, P)).toBeUndefined()
  })

  it('illegal state transitions throw', async () => {
    const h = harness()
    await expect(h.task.process([], () => undefined)).rejects.toThrow(/not RUNNING/)
    await h.task.initialize()
    await h.task.close()
    await expect(h.task.initialize()).rejects.toBeInstanceOf(IllegalTaskTransitionError)
    await expect(h.task.process([], () => undefined)).rejects.toThrow(/CLOSED/)
    expect(() => checkTransition(TaskState.CREATED, TaskState.RUNNING, 't')).toThrow(
      IllegalTaskTransitionError,
    )
    expect(() => checkTransition(TaskState.CLOSED, TaskState.INITIALIZING, 't')).toThrow(
      /CLOSED -> INITIALIZING/,
    )
    expect(() => checkTransition(TaskState.RUNNING, TaskState.INITIALIZING, 't')).not.toThrow()
  })

  it('JSON topology (inventory): restore from an empty store gives identical snapshots equal to fold(events)', async () => {
    const topology = fromDecider(anyDecider(inventory), {
      name: 'inventory',
      partitions: 2,
      serialization: 'json',
      processing: {
        maxBatchCommands: 2,
        maxBytesPerPartition: 1_048_576,
        transactionTimeoutMs: 10_000,
        snapshotCacheSize: 0,
      },
    })
    const h = harness(topology)
    await h.task.initialize()
    send(h, [
      { aggregateId: 'sku', commandId: 'r1', type: 'ReceiveStock', payload: { quantity: 5 } },
      {
        aggregateId: 'sku',
        commandId: 'x1',
        type: 'ReserveStock',
        payload: { reservationId: 'o1', quantity: 2 },
      },
      {
        aggregateId: 'sku',
        commandId: 'x2',
        type: 'ReserveStock',
        payload: { reservationId: 'o2', quantity: 3 },
      },
      { aggregateId: 'sku', commandId: 'c1', type: 'CancelReservation', payload: { reservationId: 'o1' } },
    ])
    await drive(h, h.task, 0n)
    const events = visibleEvents(h)
    expect(events.map((e) => e.type)).toEqual([
      'StockReceived',
      'StockReserved',
      'StockReserved',
      'StockDepleted',
      'ReservationCancelled',
    ])
    expectContiguous(events)
    const fresh = new MemorySnapshotStore()
    await newTask(h.log, topology, fresh).task.initialize()
    const snaps = await snapshotsOf(fresh)
    expect(snaps).toEqual(await snapshotsOf(h.store))
    expect(snaps[0]!.state).toEqual(fold(inventory, events))
    expect(snaps[0]!.version).toBe(5)
  })
})
