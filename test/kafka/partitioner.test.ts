import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { Partitioners, type PartitionMetadata } from 'kafkajs'
import { keyHash, murmur2, partitionOf } from '../../src/kafka/partitioner.ts'

const kafkajs = Partitioners.DefaultPartitioner()
const metadata = (n: number): PartitionMetadata[] =>
  Array.from({ length: n }, (_, i) => ({
    partitionErrorCode: 0,
    partitionId: i,
    leader: 0,
    replicas: [0],
    isr: [0],
  }))
const theirs = (key: string | Buffer, n: number) =>
  kafkajs({ topic: 't', partitionMetadata: metadata(n), message: { key, value: null } })

describe('partitionOf', () => {
  // Java's Utils.murmur2 (Kafka's DefaultPartitioner), values from the Java client's own test (UtilsTest.testMurmur2)
  it('hashes as Java Utils.murmur2 does', () => {
    const cases: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ]
    for (const [key, hash] of cases) {
      expect(murmur2(Buffer.from(key)), key).toBe(hash)
      expect(keyHash(key), key).toBe(hash)
    }
  })

  it('picks the partition kafkajs default partitioner picks, for string and Buffer keys of any length', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 200 }),
        fc.integer({ min: 1, max: 1000 }),
        (key, n) => {
          expect(partitionOf(key, n)).toBe(theirs(key, n))
          expect(partitionOf(Buffer.from(key), n)).toBe(theirs(Buffer.from(key), n))
        },
      ),
      { numRuns: 2000 },
    )
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 64 }), (bytes, n) => {
        expect(partitionOf(Buffer.from(bytes), n)).toBe(theirs(Buffer.from(bytes), n))
      }),
      { numRuns: 2000 },
    )
  })

  it('gives the same answer for an ASCII key after a longer or a non-ASCII one (no state leaks between calls)', () => {
    const long = 'x'.repeat(500)
    const before = partitionOf('account-1', 12)
    partitionOf(long, 12)
    partitionOf('konto-ü-€', 12)
    expect(partitionOf('account-1', 12)).toBe(before)
    expect(partitionOf(long, 12)).toBe(theirs(long, 12))
    expect(partitionOf('konto-ü-€', 12)).toBe(theirs('konto-ü-€', 12))
  })
})
