/** The task's snapshot cache: filled on commit and on loads with the encoded sizes it already has, and bounded. */
import { describe, expect, it } from 'vitest'
import type { AnyDecider } from '../../src/domain/decider.ts'
import { storeCodec } from '../../src/domain/codec.ts'
import type { SnapshotRecord } from '../../src/domain/envelopes.ts'
import { SnapshotCache } from '../../src/runtime/snapshot-cache.ts'
import { loadSnapshots } from '../../src/runtime/snapshot-loader.ts'
import { Task } from '../../src/runtime/task.ts'
import { MemorySnapshotStore, type SnapshotStore } from '../../src/state/store.ts'
import { MemoryLog } from '../../src/testing/memory-log.ts'
import { memoryTaskPorts, silentLogger } from '../../src/testing/memory-ports.ts'
import { produceCommands, type CommandSpec } from '../../src/testing/records.ts'
import { fromDecider, type Topology } from '../../src/topology/loader.ts'
import bank from '../../topologies/bank-account.ts'

const P = 0

function topology(processing: { snapshotCacheSize?: number; snapshotCacheBytes?: number } = {}): Topology {
  return fromDecider(bank as unknown as AnyDecider, { name: 'bank', partitions: 1, processing })
}

async function run(t: Topology, log: MemoryLog, store: SnapshotStore, cmds: CommandSpec[]): Promise<Task> {
  const task = new Task({
    topology: t,
    partition: P,
    ports: memoryTaskPorts({ topology: t, partition: P, log, store }),
    logger: silentLogger,
    partitioner: () => P,
  })
  const from = await task.initialize()
  produceCommands(log, t.topics.commands, P, cmds, t.definition.serialization)
  expect(await task.process(log.inputRecords(t.topics.commands, P, from), () => undefined)).toEqual({
    kind: 'done',
  })
  return task
}

const create = (id: string): CommandSpec => ({
  aggregateId: id,
  commandId: `create-${id}`,
  type: 'CreateAccount',
  payload: { owner: id.repeat(50) },
})

async function storedSizes(store: SnapshotStore, ids: string[]): Promise<number[]> {
  const sizes: number[] = []
  await store.getMany(ids, sizes)
  return sizes
}

describe('Task snapshot cache', () => {
  it('holds what a commit wrote, counted as the encoded snapshots (as in the changelog and the store)', async () => {
    const store = new MemorySnapshotStore()
    const task = await run(topology(), new MemoryLog(), store, [create('a'), create('b')])
    const sizes = await storedSizes(store, ['a', 'b'])
    expect(sizes.every((n) => n > 100)).toBe(true)
    expect(task.cacheUsage).toEqual({ entries: 2, bytes: sizes[0]! + sizes[1]! })
    await task.close()
    expect(task.cacheUsage).toEqual({ entries: 0, bytes: 0 })
  })

  it('bounded by bytes: a snapshot larger than processing.snapshotCacheBytes is not kept, and the task still works', async () => {
    const log = new MemoryLog()
    const store = new MemorySnapshotStore()
    const t = topology({ snapshotCacheBytes: 100 })
    const task = await run(t, log, store, [create('a'), create('b')])
    expect(task.cacheUsage).toEqual({ entries: 0, bytes: 0 })
    produceCommands(log, t.topics.commands, P, [
      { aggregateId: 'a', commandId: 'd1', type: 'Deposit', payload: { amount: 7 } },
    ])
    await task.process(log.inputRecords(t.topics.commands, P, task.nextOffset), () => undefined)
    expect((await task.committedSnapshot('a'))?.state).toMatchObject({ balance: 7 })
    expect(task.cacheUsage.entries).toBe(0)
  })

  it('bounded by bytes: keeps as many as fit, least recently used evicted', async () => {
    const one = (await storedSizes(await storeOf([create('a')]), ['a']))[0]!
    const task = await run(
      topology({ snapshotCacheBytes: 2 * one + 1 }),
      new MemoryLog(),
      new MemorySnapshotStore(),
      [create('a'), create('b'), create('c')],
    )
    expect(task.cacheUsage).toEqual({ entries: 2, bytes: 2 * one })
  })

  it('bounded by count (processing.snapshotCacheSize)', async () => {
    const t = topology({ snapshotCacheSize: 2 })
    const task = await run(t, new MemoryLog(), new MemorySnapshotStore(), [
      create('a'),
      create('b'),
      create('c'),
    ])
    expect(task.cacheUsage.entries).toBe(2)
  })
})

async function storeOf(cmds: CommandSpec[]): Promise<MemorySnapshotStore> {
  const store = new MemorySnapshotStore()
  await run(topology(), new MemoryLog(), store, cmds)
  return store
}

describe('loadSnapshots', () => {
  it('caches what the store gave with its stored size, no encoding; one getMany for the missing ones', async () => {
    const store = await storeOf([create('a'), create('b')])
    const sizes = await storedSizes(store, ['a', 'b'])
    const cache = new SnapshotCache({ entries: 10, bytes: 1_000_000 })
    let reads = 0
    const counting: SnapshotStore = Object.assign(Object.create(store) as SnapshotStore, {
      getMany: (ids: readonly string[], s?: (number | undefined)[]) => (reads++, store.getMany(ids, s)),
    })
    const overlay = await loadSnapshots(['a', 'b', 'none'], cache, counting, topology())
    expect([...overlay.keys()]).toEqual(['a', 'b', 'none'])
    expect(overlay.get('none')).toBeUndefined()
    expect(cache.size).toBe(2)
    expect(cache.bytes).toBe(sizes[0]! + sizes[1]!)
    await loadSnapshots(['a', 'b'], cache, counting, topology())
    expect(reads).toBe(1)
  })

  it('a store that reports no sizes: the snapshot is encoded to count it', async () => {
    const store = await storeOf([create('a')])
    const [a] = (await store.getMany(['a'])) as SnapshotRecord[]
    const silent: SnapshotStore = Object.assign(Object.create(store) as SnapshotStore, {
      getMany: (ids: readonly string[]) => store.getMany(ids),
    })
    const cache = new SnapshotCache({ entries: 10, bytes: 1_000_000 })
    await loadSnapshots(['a'], cache, silent, topology())
    expect(cache.bytes).toBe(storeCodec.encode(a).length)
  })
})
