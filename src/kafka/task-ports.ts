/** The Kafka + LevelDB implementations of a task's ports (see runtime/ports.ts). */
import type { Admin, Kafka } from 'kafkajs'
import type { TaskPorts } from '../runtime/ports.ts'
import { LevelSnapshotStore, storeDir } from '../state/level-store.ts'
import type { Topology } from '../topology/loader.ts'
import { KafkaChangelogReader, readCommittedOffset } from './changelog-reader.ts'
import type { PartitionFetcher } from './partition-fetcher.ts'
import { KafkaTransactionalProducer } from './transactional-producer.ts'

export interface KafkaTaskPortsOptions {
  kafka: Kafka
  admin: Admin
  topology: Topology
  partition: number
  stateDir: string
  /** The topology's groupless reader of changelog and events partitions (restores, standbys). */
  fetcher: PartitionFetcher
  /** Partition count of every output topic (see TransactionalProducerOptions.partitionCounts). */
  partitionCounts: ReadonlyMap<string, number>
}

export function kafkaTaskPorts({
  kafka,
  admin,
  topology,
  partition: p,
  stateDir,
  fetcher,
  partitionCounts,
}: KafkaTaskPortsOptions): TaskPorts {
  const name = topology.definition.name
  const input = topology.topics.commands
  return {
    createProducer: () =>
      new KafkaTransactionalProducer(kafka, {
        transactionalId: `${topology.applicationId}-${input}-${p}`,
        groupId: topology.applicationId,
        inputTopic: input,
        inputPartition: p,
        transactionTimeoutMs: topology.definition.processing.transactionTimeoutMs,
        maxRequestBytes: topology.definition.processing.maxRequestBytes,
        partitionCounts,
      }),
    readCommittedOffset: () => readCommittedOffset(admin, topology.applicationId, input, p),
    changelog: new KafkaChangelogReader(fetcher, admin, topology.topics.changelog, p),
    events: new KafkaChangelogReader(fetcher, admin, topology.topics.events, p),
    openStore: () =>
      LevelSnapshotStore.open(storeDir(stateDir, name, p), {
        topology: name,
        changelogTopic: topology.topics.changelog,
        partition: p,
      }),
  }
}
