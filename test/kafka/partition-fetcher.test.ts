import { Kafka, logLevel } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { PartitionFetcher } from '../../src/kafka/partition-fetcher.ts'

describe('PartitionFetcher read slots', () => {
  it('runs at most concurrentReads reads at once, the others in arrival order', async () => {
    const kafka = new Kafka({ brokers: ['127.0.0.1:1'], logLevel: logLevel.NOTHING })
    const f = new PartitionFetcher(kafka, { maxBytesPerPartition: 1024, maxWaitMs: 10, concurrentReads: 2 })
    let running = 0
    let most = 0
    const order: number[] = []
    const read = (i: number) =>
      f.withReadSlot(async () => {
        running++
        most = Math.max(most, running)
        order.push(i)
        await new Promise((r) => setTimeout(r, 5))
        running--
        if (i === 2) throw new Error('a failed read frees its slot')
        return i
      })
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map(read))
    expect(most).toBe(2)
    expect(order).toEqual([1, 2, 3, 4, 5])
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ])
    expect(await read(6)).toBe(6)
  })
})
