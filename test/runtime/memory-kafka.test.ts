/** The in-memory twin must behave like Kafka where exactly-once depends on it, or the task tests prove nothing. */
import { describe, expect, it } from 'vitest'
import { TaskFencedError } from '../../src/errors.ts'
import {
  MemoryChangelogReader,
  MemoryFaults,
  MemoryLog,
  MemoryTransactionalProducer,
  FaultyMemoryStore,
} from '../../src/testing/memory-kafka.ts'
import type { OutputRecord } from '../../src/runtime/processor.ts'

const out = (topic: string, key: string, partition?: number): OutputRecord => ({
  topic,
  key,
  value: Buffer.from(key),
  headers: {},
  ...(partition !== undefined ? { partition } : {}),
})

function setup() {
  const log = new MemoryLog()
  log.createTopic('in', 1)
  log.createTopic('out', 1)
  log.createTopic('replies', 4)
  const faults = new MemoryFaults()
  const producer = (id = 'tx-0') =>
    new MemoryTransactionalProducer(log, {
      transactionalId: id,
      groupId: 'g',
      inputTopic: 'in',
      inputPartition: 0,
      faults,
    })
  return { log, faults, producer }
}

describe('MemoryLog and MemoryTransactionalProducer', () => {
  it('open transactions are invisible read_committed, visible read_uncommitted; the LSO stops at them', async () => {
    const { log, producer } = setup()
    log.produce('out', { key: 'plain', value: Buffer.from('x'), partition: 0 })
    const p = producer()
    await p.init()
    const txn = await p.begin()
    expect(await txn.send([out('out', 'a', 0), out('out', 'b', 0)], { topic: 'out', partition: 0 })).toBe('1')
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
    await txn.send([out('out', 'a', 0), out('replies', 'k')], { topic: 'out', partition: 0 })
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
    await txn.send([out('out', 'a', 0)], { topic: 'out', partition: 0 })
    await txn.sendOffsets('5')
    await txn.abort()
    expect(log.committedOffset('g', 'in', 0)).toBeUndefined()
    txn = await p.begin()
    await txn.send([out('out', 'a', 0)], { topic: 'out', partition: 0 })
    await txn.sendOffsets('5')
    expect(log.committedOffset('g', 'in', 0)).toBeUndefined()
    await txn.commit()
    expect(log.committedOffset('g', 'in', 0)).toBe('5')
  })

  it('a newer init with the same transactional id fences the older producer and aborts its open transaction', async () => {
    const { log, producer } = setup()
    const old = producer()
    await old.init()
    const txn = await old.begin()
    await txn.send([out('out', 'zombie', 0)], { topic: 'out', partition: 0 })
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
    await t2.send([out('out', 'fresh', 0)], { topic: 'out', partition: 0 })
    await t2.commit()
    expect(log.read('out', 0).map((r) => r.key?.toString())).toEqual(['fresh'])
  })

  it('faults: the next send fails after appending, commit-outcome-unknown commits then throws, hooks run first', async () => {
    const { log, faults, producer } = setup()
    const p = producer()
    await p.init()
    faults.failNextSend()
    let txn = await p.begin()
    await expect(txn.send([out('out', 'a', 0)], { topic: 'out', partition: 0 })).rejects.toThrow(
      /injected send/,
    )
    expect(log.read('out', 0, { isolation: 'read_uncommitted' })).toHaveLength(1)
    await txn.abort()
    const order: string[] = []
    faults.beforeNext('commit', () => void order.push('hook')).commitOutcomeUnknownNext()
    txn = await p.begin()
    await txn.send([out('out', 'b', 0)], { topic: 'out', partition: 0 })
    await txn.commit() // first commit: only the hook
    order.push('committed')
    txn = await p.begin()
    await txn.send([out('out', 'c', 0)], { topic: 'out', partition: 0 })
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
    await txn.send([out('out', 'a', 0), out('out', 'b', 0), out('out', 'c', 0)], {
      topic: 'out',
      partition: 0,
    })
    await txn.commit() // offsets 0..2, marker 3
    txn = await p.begin()
    await txn.send([out('out', 'x', 0)], { topic: 'out', partition: 0 }) // 4, still open
    expect(await reader.endOffset()).toBe('4')
    const chunks: string[][] = []
    await reader.read(
      '1',
      await reader.endOffset(),
      async (rs) => void chunks.push(rs.map((r) => `${r.offset}:${r.key}`)),
      1000,
    )
    expect(chunks).toEqual([['1:b', '2:c']])
    await txn.abort()
    expect(await reader.endOffset()).toBe('6')
    chunks.length = 0
    await reader.read('0', '6', async (rs) => void chunks.push(rs.map((r) => r.key!)), 1000)
    expect(chunks).toEqual([['a', 'b'], ['c']])
  })

  it('FaultyMemoryStore fails exactly one write', async () => {
    const store = new FaultyMemoryStore().failNextWrite()
    await expect(store.write([], { changelogOffset: '1', inputOffset: '0' })).rejects.toThrow(/injected/)
    expect(await store.readCheckpoint()).toBeUndefined()
    await store.write([], { changelogOffset: '1', inputOffset: '0' })
    expect(await store.readCheckpoint()).toEqual({ changelogOffset: '1', inputOffset: '0' })
  })
})
