/** The partition of an aggregate id, as kafkajs' default (Java-compatible murmur2) partitioner picks it. */
import { Partitioners, type PartitionMetadata } from 'kafkajs'

export function partitionOf(key: string | Buffer, partitions: number): number {
  const partitionMetadata: PartitionMetadata[] = Array.from({ length: partitions }, (_, i) => ({
    partitionErrorCode: 0,
    partitionId: i,
    leader: 0,
    replicas: [0],
    isr: [0],
  }))
  return Partitioners.DefaultPartitioner()({ topic: 'any', partitionMetadata, message: { key, value: null } })
}
