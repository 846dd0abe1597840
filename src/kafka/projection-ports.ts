/** The Kafka + LevelDB ports of a projection's tasks (router: runtime/router-task.ts, views: projection-task.ts). */
import type { Admin, Kafka } from 'kafkajs'
import type { Logger } from 'pino'
import type { ChangelogReader, TransactionalProducer } from '../runtime/ports.ts'
import { storeDir } from '../state/level-store.ts'
import { LevelViewStore, type ViewStore } from '../state/view-store.ts'
import { routerGroupId, type ProjectionTopology } from '../topology/projection-loader.ts'
import { KafkaChangelogReader, readCommittedOffset } from './changelog-reader.ts'
import type { PartitionFetcher } from './partition-fetcher.ts'
import { KafkaTransactionalProducer } from './transactional-producer.ts'

export interface ProjectionPortsOptions {
  kafka: Kafka
  admin: Admin
  projection: ProjectionTopology
  partition: number
  logger: Logger
  /** Partition count of every topic the tasks write to. */
  partitionCounts: ReadonlyMap<string, number>
}

/** Ports of the router task of `sourceTopic`[partition]: a producer whose transactions commit the router group's offset. */
export function kafkaRouterPorts(o: ProjectionPortsOptions & { sourceTopic: string }): {
  createProducer(): TransactionalProducer
  readCommittedOffset(): Promise<bigint | undefined>
} {
  const group = routerGroupId(o.projection, o.sourceTopic)
  const d = o.projection.definition
  return {
    createProducer: () =>
      new KafkaTransactionalProducer(o.kafka, {
        transactionalId: `${group}-${o.partition}`,
        groupId: group,
        inputTopic: o.sourceTopic,
        inputPartition: o.partition,
        transactionTimeoutMs: d.processing.transactionTimeoutMs,
        maxRequestBytes: d.processing.maxRequestBytes,
        partitionCounts: o.partitionCounts,
      }),
    readCommittedOffset: () => readCommittedOffset(o.admin, group, o.sourceTopic, o.partition),
  }
}

/** Ports of the projection task of repartition partition `partition`: producer, views changelog, view store. */
export function kafkaProjectionPorts(
  o: ProjectionPortsOptions & { stateDir: string; fetcher: PartitionFetcher },
): {
  createProducer(): TransactionalProducer
  readCommittedOffset(): Promise<bigint | undefined>
  changelog: ChangelogReader
  openStore(): Promise<ViewStore>
  purge(offset: bigint): Promise<void>
} {
  const p = o.projection
  const input = p.topics.repartition
  return {
    createProducer: () =>
      new KafkaTransactionalProducer(o.kafka, {
        transactionalId: `${p.applicationId}-${input}-${o.partition}`,
        groupId: p.applicationId,
        inputTopic: input,
        inputPartition: o.partition,
        transactionTimeoutMs: p.definition.processing.transactionTimeoutMs,
        maxRequestBytes: p.definition.processing.maxRequestBytes,
        partitionCounts: o.partitionCounts,
      }),
    readCommittedOffset: () => readCommittedOffset(o.admin, p.applicationId, input, o.partition),
    changelog: new KafkaChangelogReader(o.fetcher, o.admin, p.topics.changelog, o.partition),
    purge: (offset) =>
      o.admin.deleteTopicRecords({
        topic: input,
        partitions: [{ partition: o.partition, offset: offset.toString() }],
      }),
    openStore: () =>
      LevelViewStore.open(storeDir(o.stateDir, p.definition.name, o.partition), {
        projection: p.definition.name,
        changelogTopic: p.topics.changelog,
        partition: o.partition,
      }),
  }
}
