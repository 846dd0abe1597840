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

  /** Deletes the topics that exist among `topics` and waits (bounded) until the broker no longer lists them. */
  async deleteTopics(topics: string[], timeoutMs: number): Promise<string[]> {
    const existing = new Set(await this.admin.listTopics())
    const present = topics.filter((t) => existing.has(t))
    if (present.length === 0) return []
    await this.admin.deleteTopics({ topics: present, timeout: timeoutMs })
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const left = new Set(await this.admin.listTopics())
      if (present.every((t) => !left.has(t))) return present
      if (Date.now() > deadline)
        throw new Error(`topics ${present.join(', ')} still listed after ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }

  /** Deletes the consumer groups that exist among `groupIds` (their committed offsets go with them). */
  async deleteGroups(groupIds: string[]): Promise<string[]> {
    const { groups } = await this.admin.describeGroups(groupIds)
    const present = groups.filter((g) => g.state !== 'Dead').map((g) => g.groupId)
    if (present.length > 0) await this.admin.deleteGroups(present)
    return present
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
