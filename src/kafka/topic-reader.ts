/**
 * Reads a whole partition of any topic (events, changelog) read_committed, for the CLI (the TopicReader
 * of src/cli/ports.ts, matched structurally): the changelog reader of the tasks, from offset 0 to today's end, in a
 * private consumer group per read (deleted afterwards), so no worker's group is joined.
 */
import type { Logger } from 'pino'
import type { ChangelogRecord } from '../runtime/ports.ts'
import { KafkaChangelogReader } from './changelog-reader.ts'
import type { KafkaConnection } from './client.ts'

export class KafkaTopicReader {
  /** `groupPrefix` names the private groups (`<prefix>-restore-<partition>-<uuid>`). */
  constructor(
    private readonly kafka: KafkaConnection,
    private readonly groupPrefix: string,
    private readonly logger: Logger,
  ) {}

  async readPartition(
    topic: string,
    partition: number,
    onRecords: (records: ChangelogRecord[]) => Promise<void> | void,
    timeoutMs: number,
  ): Promise<void> {
    const admin = this.kafka.admin()
    await admin.connect()
    try {
      const reader = new KafkaChangelogReader(
        this.kafka,
        admin,
        topic,
        partition,
        this.groupPrefix,
        this.logger,
      )
      const end = await reader.endOffset()
      await reader.read(0n, end, async (chunk) => void (await onRecords(chunk)), timeoutMs)
    } finally {
      await admin.disconnect().catch(() => undefined)
    }
  }
}
