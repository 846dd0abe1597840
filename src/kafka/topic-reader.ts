/**
 * Reads a whole partition of any topic (events, changelog) read_committed, for the CLI (the TopicReader
 * of src/cli/ports.ts, matched structurally): the changelog reader of the tasks, from offset 0 to today's end, with
 * Fetch requests of its own (partition-fetcher.ts), so no group is joined.
 */
import type { ChangelogRecord } from '../runtime/ports.ts'
import { KafkaChangelogReader } from './changelog-reader.ts'
import { PartitionFetcher, RESTORE_FETCH } from './partition-fetcher.ts'
import type { KafkaConnection } from './client.ts'

export class KafkaTopicReader {
  constructor(private readonly kafka: KafkaConnection) {}

  async readPartition(
    topic: string,
    partition: number,
    onRecords: (records: ChangelogRecord[]) => Promise<void> | void,
    timeoutMs: number,
  ): Promise<void> {
    const admin = this.kafka.admin()
    await admin.connect()
    const fetcher = new PartitionFetcher(this.kafka, RESTORE_FETCH)
    try {
      const reader = new KafkaChangelogReader(fetcher, admin, topic, partition)
      const end = await reader.endOffset()
      await reader.read(0n, end, async (chunk) => void (await onRecords(chunk)), timeoutMs)
    } finally {
      await fetcher.close()
      await admin.disconnect().catch(() => undefined)
    }
  }
}
