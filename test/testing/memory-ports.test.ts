/**
 * The in-memory ports: fault injection, the changelog reader, the store whose next write fails, and where a
 * task's replies and dead letters land (as in production).
 */
import { describe, expect, it } from 'vitest'
import { decode } from '../../src/domain/codec.ts'
import type { AnyDecider } from '../../src/domain/decider.ts'
import type { ReplyEnvelope } from '../../src/domain/envelopes.ts'
import { partitionOf } from '../../src/kafka/partitioner.ts'
import { Task } from '../../src/runtime/task.ts'
import { MemoryLog } from '../../src/testing/memory-log.ts'
import {
  MemoryChangelogReader,
  FaultyMemoryStore,
  memoryTaskPorts,
  silentLogger,
} from '../../src/testing/memory-ports.ts'
import { produceCommands } from '../../src/testing/records.ts'
import { fromDecider } from '../../src/topology/loader.ts'
import bank from '../../topologies/bank-account.ts'
import { fnv1aPartition, out, setup } from '../support/memory.ts'

describe('MemoryFaults, MemoryChangelogReader, FaultyMemoryStore', () => {
  it('faults: the next send fails after appending, commit-outcome-unknown commits then throws, hooks run first', async () => {
    const { log, faults, producer } = setup()
    const p = producer()
    await p.init()
    faults.failNextSend()
    let txn = await p.begin()
    await expect(txn.send([out('out', 'a', 0)], [{ topic: 'out', partition: 0 }])).rejects.toThrow(
      /injected send/,
    )
    expect(log.read('out', 0, { isolation: 'read_uncommitted' })).toHaveLength(1)
    await txn.abort()
    const order: string[] = []
    faults.beforeNext('commit', () => void order.push('hook')).commitOutcomeUnknownNext()
    txn = await p.begin()
    await txn.send([out('out', 'b', 0)], [{ topic: 'out', partition: 0 }])
    await txn.commit() // first commit: only the hook
    order.push('committed')
    txn = await p.begin()
    await txn.send([out('out', 'c', 0)], [{ topic: 'out', partition: 0 }])
    await expect(txn.commit()).rejects.toThrow(/outcome unknown/)
    expect(order).toEqual(['hook', 'committed'])
    expect(log.read('out', 0).map((r) => r.key?.toString())).toEqual(['b', 'c'])
    expect(faults.pendingCount).toBe(0)
    expect(faults.calls.commit).toBe(2)
  })

  it('the changelog reader ends at the LSO and returns committed data records in [from, to)', async () => {
    const { log, producer } = setup()
    const reader = new MemoryChangelogReader(log, 'out', 0, 2)
    const p = producer()
    await p.init()
    let txn = await p.begin()
    await txn.send(
      [out('out', 'a', 0), out('out', 'b', 0), out('out', 'c', 0)],
      [{ topic: 'out', partition: 0 }],
    )
    await txn.commit() // offsets 0..2, marker 3
    txn = await p.begin()
    await txn.send([out('out', 'x', 0)], [{ topic: 'out', partition: 0 }]) // 4, still open
    expect(await reader.endOffset()).toBe(4n)
    const chunks: string[][] = []
    await reader.read(
      1n,
      await reader.endOffset(),
      async (rs) => void chunks.push(rs.map((r) => `${r.offset}:${r.key}`)),
      1000,
    )
    expect(chunks).toEqual([['1:b', '2:c']])
    await txn.abort()
    expect(await reader.endOffset()).toBe(6n)
    chunks.length = 0
    await reader.read(0n, 6n, async (rs) => void chunks.push(rs.map((r) => r.key!)), 1000)
    expect(chunks).toEqual([['a', 'b'], ['c']])
  })

  it('FaultyMemoryStore fails exactly one write', async () => {
    const store = new FaultyMemoryStore().failNextWrite()
    await expect(store.write([], { changelogOffset: 1n, inputOffset: 0n })).rejects.toThrow(/injected/)
    expect(await store.readCheckpoint()).toBeUndefined()
    await store.write([], { changelogOffset: 1n, inputOffset: 0n })
    expect(await store.readCheckpoint()).toEqual({ changelogOffset: 1n, inputOffset: 0n })
  })
})

describe('memoryTaskPorts: where the replies and dead letters of a task land', () => {
  it('on partitionOf(key, n), as the Kafka transactional producer sends them (not FNV-1a)', async () => {
    const n = 6
    const topology = fromDecider(bank as unknown as AnyDecider, { name: 'bank', partitions: n })
    const { commands, replies, deadLetters } = topology.topics
    const log = new MemoryLog()
    const input = 1
    const ports = memoryTaskPorts({ topology, partition: input, log })
    // Every command is written to `input`: route every key there (this test is about the outputs' partitions).
    const task = new Task({
      topology,
      partition: input,
      ports,
      logger: silentLogger,
      partitioner: () => input,
    })
    const ids = ['acc-1', 'acc-2', 'acc-3', 'acc-4', 'acc-5', 'acc-6']
    produceCommands(
      log,
      commands,
      input,
      ids.map((id) => ({
        aggregateId: id,
        commandId: `create-${id}`,
        type: 'CreateAccount',
        payload: { owner: id },
      })),
    )
    const garbage = ['bad-1', 'bad-2', 'bad-3']
    for (const key of garbage)
      log.produce(commands, { partition: input, key, value: Buffer.from('not msgpack') })
    log.produce(commands, { partition: input, key: null, value: Buffer.from('not msgpack either') })

    await task.initialize()
    expect(await task.process(log.inputRecords(commands, input), () => undefined)).toEqual({ kind: 'done' })

    const replyRecords = log.readAll(replies)
    expect(replyRecords).toHaveLength(ids.length)
    for (const r of replyRecords) {
      const reply = decode(r.value!, r.headers['content-type']?.toString()) as ReplyEnvelope
      expect(r.key?.toString()).toBe(reply.commandId)
      expect(r.partition).toBe(partitionOf(reply.commandId, n))
    }
    const dead = log.readAll(deadLetters)
    expect(dead.map((r) => [r.key?.toString() ?? null, r.partition])).toEqual(
      expect.arrayContaining([...garbage.map((k) => [k, partitionOf(k, n)]), [null, 0]]),
    )
    expect(dead).toHaveLength(garbage.length + 1)
    // FNV-1a would have put some of them elsewhere.
    const keys = [...ids.map((id) => `create-${id}`), ...garbage]
    expect(keys.some((k) => fnv1aPartition(k, n) !== partitionOf(k, n))).toBe(true)
  })
})
