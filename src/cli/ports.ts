/**
 * What the CLI needs from Kafka, in its own terms. The kafkajs implementations are in src/kafka (admin.ts,
 * topic-reader.ts); common.ts wires them. Rebuild writes through src/kafka/transactional-producer.ts.
 */
import type { TopicCheck, TopicSpec } from '../kafka/topics.ts'
import type { Topology } from '../topology/loader.ts'

export interface ClusterAdmin {
  /** Today's end (high watermark, the next offset to be written) of every partition of a topic. */
  endOffsets(topic: string): Promise<Map<number, string>>
  /** Members of a consumer group now (0 when the group is empty or unknown). */
  groupMemberCount(groupId: string): Promise<number>
  /** Partition count of an existing topic. */
  partitionCount(topic: string): Promise<number>
  topicNames(): Promise<string[]>
  /** Creates the topology's missing topics when `create`, then checks them all (see src/kafka/topics.ts). */
  ensureTopics(topology: Topology, o: { create: boolean; replicationFactor?: number }): Promise<TopicCheck>
  /** The problems of existing topics (partition counts, configs); empty when they fit. */
  checkTopics(specs: TopicSpec[]): Promise<string[]>
  /** Deletes those of `topics` that exist (waits until they are gone); returns them. */
  deleteTopics(topics: string[], timeoutMs: number): Promise<string[]>
  /** Deletes those of the consumer groups that exist; returns them. */
  deleteGroups(groupIds: string[]): Promise<string[]>
}

export interface TopicRecord {
  offset: bigint
  key: string | null
  value: Buffer | null
}

export interface TopicReader {
  /**
   * The committed records of one partition from its start to today's end, in offset order, in chunks.
   * Bounded by `timeoutMs`.
   */
  readPartition(
    topic: string,
    partition: number,
    onRecords: (records: TopicRecord[]) => Promise<void> | void,
    timeoutMs: number,
  ): Promise<void>
}
