/** The in-memory log must behave like Kafka where exactly-once depends on it, or the task tests prove nothing. */
import { describe, expect, it } from 'vitest'
import { TaskFencedError } from '../../src/errors.ts'
import { partitionOf } from '../../src/kafka/partitioner.ts'
import { MemoryLog } from '../../src/testing/memory-log.ts'
import { fnv1aPartition, out, setup } from '../support/memory.ts'

describe('MemoryLog (through MemoryTransactionalProducer)', () => {
  it('open transactions are invisible read_committed, visible read_uncommitted; the LSO stops at them', async () => {
    const { log, producer } = setup()
    log.produce('out', { key: 'plain', value: Buffer.from('x'), partition: 0 })
    const p = producer()
    await p.init()
    const txn = await p.begin()
    expect(
      await txn.send([out('out', 'a', 0), out('out', 'b', 0)], [{ topic: 'out', partition: 0 }]),
    ).toEqual([1n])
    expect(log.read('out', 0).map((r) => r.key?.toString())).toEqual(['plain'])
    expect(log.read('out', 0, { isolation: 'read_uncommitted' })).toHaveLength(3)
    expect(log.lastStableOffset('out', 0)).toBe('1')
    expect(log.logEndOffset('out', 0)).toBe('3')
    await txn.commit()
    expect(log.read('out', 0).map((r) => r.key?.toString())).toEqual(['plain', 'a', 'b'])
    // the commit marker took one offset
    expect(log.logEndOffset('out', 0)).toBe('4')
    expect(log.lastStableOffset('out', 0)).toBe('4')
    expect(log.raw('out', 0)[3]!.control).toBe('commit')
  })

  it('aborted records stay invisible forever; markers go to every touched partition', async () => {
    const { log, producer } = setup()
    const p = producer()
    await p.init()
    const txn = await p.begin()
    await txn.send([out('out', 'a', 0), out('replies', 'k')], [{ topic: 'out', partition: 0 }])
    await txn.abort()
    expect(log.read('out', 0)).toEqual([])
    expect(log.readAll('replies')).toEqual([])
    expect(log.raw('out', 0).map((r) => r.control)).toEqual([undefined, 'abort'])
    const rp = log.partitionFor('replies', 'k')
    expect(log.raw('replies', rp).map((r) => r.control)).toEqual([undefined, 'abort'])
    expect(log.transactionCounts()).toEqual({ open: 0, committed: 0, aborted: 1 })
  })

  it('group offsets are stored only when the transaction commits', async () => {
    const { log, producer } = setup()
    const p = producer()
    await p.init()
    let txn = await p.begin()
    await txn.send([out('out', 'a', 0)], [{ topic: 'out', partition: 0 }])
    await txn.sendOffsets(5n)
    await txn.abort()
    expect(log.committedOffset('g', 'in', 0)).toBeUndefined()
    txn = await p.begin()
    await txn.send([out('out', 'a', 0)], [{ topic: 'out', partition: 0 }])
    await txn.sendOffsets(5n)
    expect(log.committedOffset('g', 'in', 0)).toBeUndefined()
    await txn.commit()
    expect(log.committedOffset('g', 'in', 0)).toBe('5')
  })

  it('a newer init with the same transactional id fences the older producer and aborts its open transaction', async () => {
    const { log, producer } = setup()
    const old = producer()
    await old.init()
    const txn = await old.begin()
    await txn.send([out('out', 'zombie', 0)], [{ topic: 'out', partition: 0 }])
    const fresh = producer()
    await fresh.init()
    expect(old.fenced).toBe(true)
    expect(log.raw('out', 0).map((r) => r.control)).toEqual([undefined, 'abort'])
    await expect(txn.commit()).rejects.toBeInstanceOf(TaskFencedError)
    await expect(old.begin()).rejects.toBeInstanceOf(TaskFencedError)
    // another transactional id is not fenced
    const other = producer('tx-1')
    await other.init()
    expect(fresh.fenced).toBe(false)
    const t2 = await fresh.begin()
    await t2.send([out('out', 'fresh', 0)], [{ topic: 'out', partition: 0 }])
    await t2.commit()
    expect(log.read('out', 0).map((r) => r.key?.toString())).toEqual(['fresh'])
  })
})

describe('MemoryLog partitioning', () => {
  const keys = [
    ...Array.from({ length: 20 }, (_, i) => `acc-${i + 1}`),
    'create-a',
    'dep-a-1',
    'wd-b-1',
    'k',
    '',
    'compte-é',
  ]

  it('routes keys exactly as production does (partitionOf: kafkajs murmur2), not as FNV-1a did', () => {
    const log = new MemoryLog()
    for (const n of [1, 2, 3, 4, 6, 12]) {
      log.createTopic(`t${n}`, n)
      for (const key of keys) {
        expect(log.partitionFor(`t${n}`, key)).toBe(partitionOf(key, n))
        expect(log.partitionFor(`t${n}`, Buffer.from(key))).toBe(partitionOf(key, n))
        expect(log.produce(`t${n}`, { key, value: null }).partition).toBe(partitionOf(key, n))
      }
    }
    // Pinned (kafkajs' default partitioner, as test/cli/usage.test.ts pins partitionOf): acc-1 -> 3, acc-2 -> 2.
    expect([log.partitionFor('t6', 'acc-1'), log.partitionFor('t6', 'acc-2')]).toEqual([3, 2])
    // The keys tell the two partitioners apart: with FNV-1a this test fails.
    expect(keys.filter((k) => fnv1aPartition(k, 6) !== partitionOf(k, 6)).length).toBeGreaterThan(10)
  })

  it('keyless records go to partition 0, as the transactional producer sends them', async () => {
    const { log, producer } = setup()
    expect(log.partitionFor('replies', null)).toBe(0)
    expect(log.produce('replies', { value: Buffer.from('x') }).partition).toBe(0)
    const p = producer()
    await p.init()
    const txn = await p.begin()
    await txn.send(
      [{ topic: 'replies', key: null, value: Buffer.from('y'), headers: {} }],
      [{ topic: 'replies', partition: 0 }],
    )
    await txn.commit()
    expect(log.read('replies', 0).map((r) => r.value?.toString())).toEqual(['x', 'y'])
  })
})
