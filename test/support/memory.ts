/** A MemoryLog with the topics of the memory twin tests, and a transactional producer over it. */
import { MemoryFaults } from '../../src/testing/memory-faults.ts'
import { MemoryLog } from '../../src/testing/memory-log.ts'
import { MemoryTransactionalProducer } from '../../src/testing/memory-ports.ts'
import type { OutputRecord } from '../../src/runtime/ports.ts'

export const out = (topic: string, key: string, partition?: number): OutputRecord => ({
  topic,
  key,
  value: Buffer.from(key),
  headers: {},
  ...(partition !== undefined ? { partition } : {}),
})

export function setup() {
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

/** The partitioner the memory twin used before it called partitionOf (FNV-1a): tests show they differ. */
export function fnv1aPartition(key: string, partitions: number): number {
  let h = 0x811c9dc5
  for (const b of Buffer.from(key)) h = Math.imul(h ^ b, 0x01000193) >>> 0
  return h % partitions
}
