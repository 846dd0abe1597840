/** The task keeps the event index equal to the committed events topic: after commits, failed store writes, restores. */
import { describe, expect, it } from 'vitest'
import { decode, encode } from '../../src/domain/codec.ts'
import type { AnyDecider } from '../../src/domain/decider.ts'
import type { EventEnvelope } from '../../src/domain/envelopes.ts'
import { batchIndex } from '../../src/runtime/event-index.ts'
import { EventRecord } from '../../src/runtime/ports.ts'
import { Task } from '../../src/runtime/task.ts'
import { eventOf } from '../../src/state/event-index.ts'
import { MemorySnapshotStore, type SnapshotStore } from '../../src/state/store.ts'
import { MemoryLog } from '../../src/testing/memory-log.ts'
import { FaultyMemoryStore, memoryTaskPorts, silentLogger } from '../../src/testing/memory-ports.ts'
import { produceCommands, type CommandSpec } from '../../src/testing/records.ts'
import { fromDecider, type Topology } from '../../src/topology/loader.ts'
import bank from '../../topologies/bank-account.ts'

const P = 0
const topology: Topology = fromDecider(bank as unknown as AnyDecider, {
  name: 'bank',
  partitions: 1,
  processing: {
    maxBatchCommands: 4,
    maxBytesPerPartition: 1_048_576,
    transactionTimeoutMs: 10_000,
    snapshotCacheSize: 100,
  },
})

function newTask(log: MemoryLog, store: SnapshotStore) {
  const ports = memoryTaskPorts({ topology, partition: P, log, store, restoreChunkSize: 3 })
  const task = new Task({ topology, partition: P, ports, logger: silentLogger, partitioner: () => P })
  return { ports, task }
}

const cmds = (n: number, from = 0): CommandSpec[] =>
  Array.from({ length: n }, (_, i) => {
    const id = `acc-${(from + i) % 3}`
    return i + from < 3
      ? { aggregateId: id, commandId: `c-${from + i}`, type: 'CreateAccount', payload: { owner: id } }
      : { aggregateId: id, commandId: `c-${from + i}`, type: 'Deposit', payload: { amount: 1 + i } }
  })

async function run(log: MemoryLog, task: Task): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const records = log.inputRecords(topology.topics.commands, P, task.nextOffset)
    if (records.length === 0) return
    const outcome = await task.process(records, () => undefined)
    if (outcome.kind === 'fenced') throw new Error('fenced')
  }
}

/** The committed events topic, per aggregate, with offsets. */
function topicEvents(log: MemoryLog): Map<string, { offset: bigint; event: EventEnvelope }[]> {
  const by = new Map<string, { offset: bigint; event: EventEnvelope }[]>()
  for (const r of log.readAll(topology.topics.events)) {
    const event = decode(r.value!) as EventEnvelope
    by.set(event.aggregateId, [...(by.get(event.aggregateId) ?? []), { offset: BigInt(r.offset), event }])
  }
  return by
}

async function expectIndexEqualsTopic(log: MemoryLog, store: SnapshotStore): Promise<number> {
  const topic = topicEvents(log)
  let n = 0
  for (const [id, expected] of topic) {
    const indexed = await store.events(id)
    expect(
      indexed.map((e) => ({ offset: e.offset, event: eventOf(e) })),
      id,
    ).toEqual(expected)
    n += indexed.length
  }
  expect(n).toBeGreaterThan(0)
  return n
}

describe('event index of a task', () => {
  it('holds every committed event with its offset; the checkpoint points after the last one', async () => {
    const log = new MemoryLog()
    const store = new FaultyMemoryStore()
    const { task } = newTask(log, store)
    await task.initialize()
    produceCommands(log, topology.topics.commands, P, cmds(10))
    await run(log, task)
    expect(await expectIndexEqualsTopic(log, store)).toBe(10)
    const last = log.readAll(topology.topics.events).at(-1)!
    expect((await store.readCheckpoint())?.eventsOffset).toBe(BigInt(last.offset) + 1n)
    expect(
      (await task.committedEvents('acc-1', { fromVersion: 2, toVersion: 3 })).map((e) => e.version),
    ).toEqual([2, 3])
    const ordered = await task.committedEventsFrom(0n, 100)
    expect(ordered.map((e) => e.offset)).toEqual(
      log.readAll(topology.topics.events).map((r) => BigInt(r.offset)),
    )
  })

  it('a store write failing after the commit: the re-initialised task fills the index from the events topic', async () => {
    const log = new MemoryLog()
    const store = new FaultyMemoryStore()
    const { task } = newTask(log, store)
    await task.initialize()
    produceCommands(log, topology.topics.commands, P, cmds(10))
    store.failNextWrite()
    await run(log, task)
    await expectIndexEqualsTopic(log, store)
  })

  it('a lost store: the index comes back from the events topic; a restart after that reads nothing more', async () => {
    const log = new MemoryLog()
    const { task } = newTask(log, new MemorySnapshotStore())
    await task.initialize()
    produceCommands(log, topology.topics.commands, P, cmds(9))
    await run(log, task)
    await task.close()

    const fresh = new MemorySnapshotStore()
    const second = newTask(log, fresh)
    await second.task.initialize()
    expect(await expectIndexEqualsTopic(log, fresh)).toBe(9)
    expect(second.ports.events.reads).toBe(1)
    // more commands on the restored task, then a restart with the same store: O(delta) = no read at all
    produceCommands(log, topology.topics.commands, P, cmds(5, 9))
    await run(log, second.task)
    await second.task.close()
    const third = newTask(log, fresh)
    await third.task.initialize()
    expect(third.ports.events.reads).toBe(0)
    expect(await expectIndexEqualsTopic(log, fresh)).toBe(14)
  })

  it('a store from before the index (no eventsOffset): the whole events partition is indexed once', async () => {
    const log = new MemoryLog()
    const store = new MemorySnapshotStore()
    const { task } = newTask(log, store)
    await task.initialize()
    produceCommands(log, topology.topics.commands, P, cmds(6))
    await run(log, task)
    await task.close()
    // an old store: same snapshots and checkpoint, no index
    const old = new MemorySnapshotStore()
    const snapshots = []
    for await (const s of store.entries()) snapshots.push(s)
    const { eventsOffset: _, ...checkpoint } = (await store.readCheckpoint())!
    await old.write(snapshots, checkpoint)
    const restarted = newTask(log, old)
    await restarted.task.initialize()
    expect(restarted.ports.changelog.reads).toBe(0)
    expect(await expectIndexEqualsTopic(log, old)).toBe(6)
  })
})

describe('batchIndex', () => {
  const envelope = (aggregateId: string, version: number) => ({
    eventId: `${aggregateId}@${version}`,
    type: 'Deposited',
    aggregateId,
    version,
    payload: { amount: version },
  })
  const values = [envelope('acc-1', 3), envelope('acc-2', 1), envelope('acc-1', 4)].map((e) =>
    encode(e, 'msgpack'),
  )
  const reply = { topic: 'replies', key: 'c-1', value: encode({ ok: true }, 'msgpack'), headers: {} }
  const previous = { changelogOffset: 0n, inputOffset: 0n, eventsOffset: 40n }

  it("takes the processor's event records' aggregate and version as decoding their values would give them", () => {
    const ids: [string, number][] = [
      ['acc-1', 3],
      ['acc-2', 1],
      ['acc-1', 4],
    ]
    const made = values.map((v, i) => new EventRecord('events', 0, ids[i]![0], v, {}, ids[i]![1]))
    const plain = values.map((v, i) => ({
      topic: 'events',
      partition: 0,
      key: ids[i]![0],
      value: v,
      headers: {},
    }))
    const fromRecords = batchIndex([made[0]!, reply, made[1]!, made[2]!], 'events', 40n, previous)
    const decoded = batchIndex([plain[0]!, reply, plain[1]!, plain[2]!], 'events', 40n, previous)
    expect(fromRecords).toEqual(decoded)
    expect(fromRecords.eventsOffset).toBe(43n)
    expect(fromRecords.events.map((e) => [e.aggregateId, e.version, e.offset])).toEqual([
      ['acc-1', 3, 40n],
      ['acc-2', 1, 41n],
      ['acc-1', 4, 42n],
    ])
  })
})
