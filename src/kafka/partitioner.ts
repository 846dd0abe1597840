/** The partition of an aggregate id, as kafkajs' default (Java-compatible murmur2) partitioner picks it. */
import { Partitioners, type PartitionMetadata } from 'kafkajs'

// Called for every output record without a partition (replies, dead letters): one partitioner, and one
// metadata array per partition count, instead of new ones per call.
const partitioner = Partitioners.DefaultPartitioner()
const metadataByCount = new Map<number, PartitionMetadata[]>()

export function partitionOf(key: string | Buffer, partitions: number): number {
  let partitionMetadata = metadataByCount.get(partitions)
  if (!partitionMetadata) {
    partitionMetadata = Array.from({ length: partitions }, (_, i) => ({
      partitionErrorCode: 0,
      partitionId: i,
      leader: 0,
      replicas: [0],
      isr: [0],
    }))
    metadataByCount.set(partitions, partitionMetadata)
  }
  return partitioner({ topic: 'any', partitionMetadata, message: { key, value: null } })
}
