import { describe, expect, it } from 'vitest'
import { splitBySize } from '../../src/kafka/transactional-producer.ts'
import type { OutputRecord } from '../../src/runtime/ports.ts'

const rec = (i: number, bytes: number): OutputRecord => ({
  topic: 't',
  key: `k${i}`,
  value: Buffer.alloc(bytes),
  headers: {},
})

describe('splitBySize (produce requests below message.max.bytes)', () => {
  it('keeps every record, in order, in groups under the budget', () => {
    const records = Array.from({ length: 100 }, (_, i) => rec(i, 10_000))
    const groups = splitBySize(records, 100_000)
    expect(groups.flat()).toEqual(records)
    expect(groups.length).toBeGreaterThan(10)
    for (const g of groups) expect(g.reduce((n, r) => n + r.value!.length, 0)).toBeLessThanOrEqual(100_000)
  })

  it('puts a record larger than the budget alone, and one group when everything fits', () => {
    expect(splitBySize([rec(0, 10), rec(1, 500), rec(2, 10)], 200).map((g) => g.length)).toEqual([1, 1, 1])
    expect(splitBySize([rec(0, 10), rec(1, 10)], 10_000)).toHaveLength(1)
    expect(splitBySize([], 10)).toEqual([])
  })
})
