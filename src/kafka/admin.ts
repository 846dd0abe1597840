/**
 * The cluster reads and topic administration the CLI and the CommandClient need, over a kafkajs admin
 * client (the ClusterAdmin of src/cli/ports.ts, matched structurally: src/kafka does not import the CLI).
 * Offsets are decimal strings here, as Kafka hands them out.
 */
import type { Admin } from 'kafkajs'
import type { Topology } from '../topology/loader.ts'
import type { KafkaConnection } from './client.ts'
import { checkTopics, ensureTopics, type TopicCheck, type TopicSpec } from './topics.ts'

export class KafkaClusterAdmin {
  private constructor(private readonly admin: Admin) {}

  static async connect(kafka: KafkaConnection): Promise<KafkaClusterAdmin> {
    const admin = kafka.admin()
    await admin.connect()
    return new KafkaClusterAdmin(admin)
  }

  /**
   * The high watermark of each partition: kafkajs' admin sends ListOffsets read_uncommitted, so an open
   * transaction's records count (see KafkaChangelogReader.endOffset).
   */
  async endOffsets(topic: string): Promise<Map<number, string>> {
    const offsets = await this.admin.fetchTopicOffsets(topic)
    return new Map(offsets.map((o) => [o.partition, o.high]))
  }

  async groupMemberCount(groupId: string): Promise<number> {
    const { groups } = await this.admin.describeGroups([groupId])
    return groups[0]?.members.length ?? 0
  }

  async partitionCount(topic: string): Promise<number> {
    const meta = await this.admin.fetchTopicMetadata({ topics: [topic] })
    const t = meta.topics.find((m) => m.name === topic)
    if (t === undefined) throw new Error(`no metadata for topic ${topic}`)
    return t.partitions.length
  }

  topicNames(): Promise<string[]> {
    return this.admin.listTopics()
  }

  ensureTopics(topology: Topology, o: { create: boolean; replicationFactor?: number }): Promise<TopicCheck> {
    return ensureTopics(this.admin, topology, o)
  }

  checkTopics(specs: TopicSpec[]): Promise<string[]> {
    return checkTopics(this.admin, specs)
  }

  async close(): Promise<void> {
    await this.admin.disconnect().catch(() => undefined)
  }
}

/** Runs `fn` with a connected admin, disconnected afterwards. */
export async function withClusterAdmin<T>(
  kafka: KafkaConnection,
  fn: (admin: KafkaClusterAdmin) => Promise<T>,
): Promise<T> {
  const admin = await KafkaClusterAdmin.connect(kafka)
  try {
    return await fn(admin)
  } finally {
    await admin.close()
  }
}
