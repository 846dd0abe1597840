/** The in-memory ports: fault injection, the changelog reader and the store whose next write fails. */
import { describe, expect, it } from 'vitest'
import { MemoryChangelogReader, FaultyMemoryStore } from '../../src/testing/memory-ports.ts'
import { out, setup } from '../support/memory.ts'

describe('MemoryFaults, MemoryChangelogReader, FaultyMemoryStore', () => {
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
