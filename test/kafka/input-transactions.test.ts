import { describe, expect, it } from 'vitest'
import { PartitionInput } from '../../src/kafka/input-transactions.ts'
import type { LogRecord } from '../../src/kafka/transactions.ts'

const rec = (offset: number, producerId: string, o: Partial<LogRecord> = {}): LogRecord => ({
  offset: String(offset),
  key: Buffer.from(`k${offset}`),
  value: Buffer.from(`v${offset}`),
  headers: {},
  timestamp: '0',
  producerId,
  producerEpoch: 0,
  inTransaction: true,
  ...o,
})
const plain = (offset: number) => rec(offset, 'plain', { inTransaction: false })
const commit = (offset: number, producerId: string) =>
  rec(offset, producerId, { control: 'commit', value: null })
const abort = (offset: number, producerId: string) =>
  rec(offset, producerId, { control: 'abort', value: null })
const offsets = (rs: LogRecord[]) => rs.map((r) => Number(r.offset))

describe('PartitionInput (the command consumer read_committed from the markers)', () => {
  it('hands out committed records only once every record before them is decided, in offset order', () => {
    const input = new PartitionInput(0n)
    // 0 plain, 1 X (open), 2 plain, 3 A, 4 A commit, 5 X commit
    expect(offsets(input.push([plain(0), rec(1, 'X'), plain(2), rec(3, 'A')]))).toEqual([0])
    expect(input.firstHeld).toBe(1n)
    // A is committed, but X at 1 is still open: 2 and 3 wait behind it.
    expect(offsets(input.push([commit(4, 'A')]))).toEqual([])
    expect(input.next).toBe(5n)
    expect(offsets(input.push([commit(5, 'X')]))).toEqual([1, 2, 3])
    expect(input.firstHeld).toBeUndefined()
  })

  it('drops aborted transactions of interleaved producers, whatever order their markers come in', () => {
    const input = new PartitionInput(0n)
    const fetched = [rec(0, 'A'), rec(1, 'B'), rec(2, 'C'), rec(3, 'X')]
    expect(input.push(fetched)).toEqual([])
    expect(offsets(input.push([abort(4, 'C'), abort(5, 'B'), abort(6, 'A'), rec(7, 'C')]))).toEqual([])
    expect(offsets(input.push([plain(8), commit(9, 'C'), commit(10, 'X')]))).toEqual([3, 7, 8])
  })

  it('a fresh input at the task position (a seek back) reads what the old one held, nothing twice', () => {
    const first = new PartitionInput(0n)
    expect(offsets(first.push([plain(0), plain(1), rec(2, 'X'), plain(3)]))).toEqual([0, 1])
    // The task's transaction of [0, 1] failed: the task manager seeks back to 0 and the filter starts over.
    const again = new PartitionInput(0n)
    expect(again.next).toBe(0n)
    expect(offsets(again.push([plain(0), plain(1), rec(2, 'X'), plain(3), commit(4, 'X')]))).toEqual([
      0, 1, 2, 3,
    ])
    // Started at 2 (0 and 1 committed by the task): X's record is read again, 0 and 1 are not fed.
    const later = new PartitionInput(2n)
    expect(offsets(later.push([plain(0), plain(1), rec(2, 'X'), plain(3)]))).toEqual([])
    expect(offsets(later.push([commit(4, 'X')]))).toEqual([2, 3])
  })

  it('a marker whose data lies before the start decides nothing it holds', () => {
    const input = new PartitionInput(3n) // A wrote 1 (committed and processed before), its marker is at 4
    expect(offsets(input.push([rec(3, 'B'), commit(4, 'A'), commit(5, 'B')]))).toEqual([3])
  })

  it('a fetch of markers alone: skipped when nothing is undecided, else fetched again from the last data record', () => {
    const input = new PartitionInput(0n)
    input.push([plain(0), rec(1, 'A')])
    expect(input.markersOnly(0n, 1n)).toBeUndefined() // already fed
    expect(input.markersOnly(2n, 2n)).toBe(1n) // A's marker alone: fetch again from 1 so eachBatch sees it
    expect(input.next).toBe(2n)
    expect(offsets(input.push([rec(1, 'A'), commit(2, 'A')]))).toEqual([1])
    expect(input.futileRefetches).toBe(0)
    expect(input.markersOnly(3n, 4n)).toBeUndefined() // nothing undecided: skipped
    expect(input.next).toBe(5n)
    expect(input.markersOnly(7n, 7n)).toBe(5n) // a gap before them: read it first
  })

  it('counts re-fetches that bring nothing new (the record batch before the markers fills the fetch)', () => {
    const input = new PartitionInput(0n)
    input.push([rec(0, 'A')])
    for (let i = 1; i <= 3; i++) {
      expect(input.markersOnly(1n, 1n)).toBe(0n)
      input.push([rec(0, 'A')])
      expect(input.futileRefetches).toBe(i)
    }
    input.markersOnly(1n, 1n)
    expect(offsets(input.push([rec(0, 'A'), commit(1, 'A')]))).toEqual([0])
    expect(input.futileRefetches).toBe(0)
  })

  it('reports the position for lag past aborted records once the task processed what it was handed', () => {
    const input = new PartitionInput(0n)
    input.push([plain(0), rec(1, 'A'), abort(2, 'A'), rec(3, 'B')])
    expect(input.position(0n)).toBe(0n) // the task has not processed 0 yet
    expect(input.position(1n)).toBe(3n) // past A's aborted record and marker, up to B's open one
    input.push([abort(4, 'B')])
    expect(input.position(1n)).toBe(5n)
  })
})
