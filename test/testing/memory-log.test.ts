/** The in-memory log must behave like Kafka where exactly-once depends on it, or the task tests prove nothing. */
import { describe, expect, it } from 'vitest'
import { TaskFencedError } from '../../src/errors.ts'
import { out, setup } from '../support/memory.ts'

describe('MemoryLog (through MemoryTransactionalProducer)', () => {
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
})
