/**
 * One topology in a worker process: checks (or creates) its topics, then wires a Kafka consumer loop to a task
 * manager whose tasks get Kafka + LevelDB ports. The rooms themselves live elsewhere: the consumer loop in
 * src/kafka/consumer-loop.ts, the task manager in src/runtime/task-manager.ts, the task in src/runtime/task.ts.
 */
import type { Logger } from 'pino'
import type { WorkerConfig } from '../config/worker-config.ts'
import type { KafkaConnection } from '../kafka/client.ts'
import { KafkaChangelogReader } from '../kafka/changelog-reader.ts'
import { KafkaConsumerLoop } from '../kafka/consumer-loop.ts'
import { deciderAssigner } from '../kafka/decider-assigner.ts'
import { RESTORE_FETCH, PartitionFetcher } from '../kafka/partition-fetcher.ts'
import { partitionOf } from '../kafka/partitioner.ts'
import { kafkaTaskPorts } from '../kafka/task-ports.ts'
import { ensureTopics, outputPartitionCounts } from '../kafka/topics.ts'
import { GroupMembers } from './group-members.ts'
import type { WorkerListener } from '../metrics/metrics.ts'
import { Task } from '../runtime/task.ts'
import { TaskManager } from '../runtime/task-manager.ts'
import { StandbyManager, StandbyTask } from '../runtime/standby-task.ts'
import { LevelSnapshotStore, storeDir } from '../state/level-store.ts'
import type { Topology } from '../topology/loader.ts'
import { StandbyPlacement, storesOnDisk } from './standby-placement.ts'

export interface TopologyRunnerOptions {
  topology: Topology
  config: WorkerConfig
  kafka: KafkaConnection
  logger: Logger
  listener?: WorkerListener
  /** This worker's advertised HTTP URL, announced in the topology's consumer group (routed reads). */
  advertisedUrl?: string
  /** Called when the worker must stop (decide threw under the `stop` policy, the group's consumer is gone). */
  onFatal: (e: Error) => void
}

/** What the worker needs of a runner (a fake in unit tests). */
export type WorkerRunner = Pick<TopologyRunner, 'name' | 'tasks' | 'isReady' | 'stalls' | 'start' | 'stop'> &
  Partial<Pick<TopologyRunner, 'standbys'>>

export class TopologyRunner {
  private admin: { disconnect(): Promise<void> } | undefined
  private manager: TaskManager<Task> | undefined
  private loop: KafkaConsumerLoop | undefined
  private members: GroupMembers | undefined
  private fetcher: PartitionFetcher | undefined
  private standbyManager: StandbyManager | undefined
  private readonly log: Logger

  constructor(private readonly o: TopologyRunnerOptions) {
    this.log = o.logger.child({ topology: o.topology.definition.name })
  }

  get name(): string {
    return this.o.topology.definition.name
  }

  /** The live tasks by partition (empty before start). */
  get tasks(): ReadonlyMap<number, Task> {
    return this.manager?.tasks ?? new Map()
  }

  isReady(): boolean {
    return this.manager?.isReady() ?? false
  }

  /** The standby replicas kept here, by partition. */
  get standbys(): ReadonlyMap<number, StandbyTask> {
    return this.standbyManager?.standbys ?? new Map()
  }

  /** Why assigned partitions make no progress (see TaskManager.stalls). */
  stalls(): string[] {
    return this.manager?.stalls() ?? []
  }

  async start(): Promise<void> {
    const { topology, config, kafka, listener } = this.o
    const admin = kafka.admin()
    await admin.connect()
    const groupId = topology.applicationId
    // Before joining: the member a killed previous process left in the group goes now, not at its session timeout
    // (never fails; under way while the topics are checked).
    const members = await GroupMembers.acquire({
      stateDir: config.stateDir,
      name: this.name,
      logger: this.log,
    })
    this.members = members
    const leaving = members.removeDead(kafka, [groupId], Math.min(config.consumer.sessionTimeoutMs, 10_000))
    const check = await ensureTopics(admin, topology, {
      create: config.topics.create,
      ...(config.topics.replicationFactor !== undefined
        ? { replicationFactor: config.topics.replicationFactor }
        : {}),
    })
    if (check.created.length > 0) this.log.info({ created: check.created }, 'created topics')
    const partitionCounts = await outputPartitionCounts(admin, topology)
    this.admin = admin
    const fetcher = new PartitionFetcher(kafka, RESTORE_FETCH)
    this.fetcher = fetcher
    const name = topology.definition.name
    const placement = new StandbyPlacement({ admin, groupId: topology.applicationId, logger: this.log })
    for (const [p, offset] of await storesOnDisk(config.stateDir, topology, this.log))
      placement.stores.set(p, offset)
    const standbyReplicas = topology.definition.processing.standbyReplicas
    const repliesPartitions = partitionCounts.get(topology.topics.replies)
    const standbys = new StandbyManager({
      taskReleased: (p) => this.manager?.released(p) ?? Promise.resolve(),
      create: (p) =>
        new StandbyTask({
          partition: p,
          logger: this.log.child({ partition: p, standby: `${name}[${p}]` }),
          ports: {
            changelog: new KafkaChangelogReader(fetcher, admin, topology.topics.changelog, p, 'stable'),
            events: new KafkaChangelogReader(fetcher, admin, topology.topics.events, p, 'stable'),
            openStore: () =>
              LevelSnapshotStore.open(storeDir(config.stateDir, name, p), {
                topology: name,
                changelogTopic: topology.topics.changelog,
                partition: p,
              }),
          },
          listener: {
            lag: (q, records) => {
              const s = this.standbyManager?.standbys.get(q)
              const offset = s?.checkpoint?.changelogOffset
              if (offset !== undefined) placement.stores.set(q, offset)
              listener?.standbyLag?.(q, records)
            },
            replayed: (q, records) => listener?.standbyReplayed?.(q, records),
            closed: (q) => listener?.standbyLag?.(q, undefined),
          },
        }),
    })
    this.standbyManager = standbys
    await leaving

    const loop = new KafkaConsumerLoop({
      kafka,
      groupId,
      topic: topology.topics.commands,
      partitions: topology.definition.partitions,
      maxBytesPerPartition: topology.definition.processing.maxBytesPerPartition,
      fetchMinBytes: topology.definition.processing.fetchMinBytes,
      fetchMaxWaitMs: topology.definition.processing.fetchMaxWaitMs,
      laneRecords: topology.definition.processing.maxBatchCommands,
      commitIntervalMs: topology.definition.processing.commitIntervalMs,
      sessionTimeoutMs: config.consumer.sessionTimeoutMs,
      heartbeatIntervalMs: config.consumer.heartbeatIntervalMs,
      rebalanceTimeoutMs: config.consumer.rebalanceTimeoutMs,
      logger: this.log,
      ...(this.o.advertisedUrl !== undefined ? { endpoint: { http: this.o.advertisedUrl } } : {}),
      assigners: [
        deciderAssigner({
          endpoint: this.o.advertisedUrl !== undefined ? { http: this.o.advertisedUrl } : undefined,
          standbyReplicas,
          state: () =>
            placement.memberState(
              this.manager?.assignment ?? [],
              [...(this.manager?.tasks.values() ?? [])].map((t) => [t.partition, t.storeOffset]),
            ),
        }),
      ],
      ...(listener ? { listener } : {}),
      onGone: this.o.onFatal,
      onJoined: members.recorder(groupId),
    })
    const manager = new TaskManager({
      name: topology.definition.name,
      consumer: loop,
      logger: this.log,
      ...(listener ? { listener } : {}),
      onFatal: this.o.onFatal,
      beforeOpen: (p) => standbys.release(p),
      createTask: (p) => {
        const log = this.log.child({ partition: p, task: `${topology.definition.name}[${p}]` })
        const ports = kafkaTaskPorts({
          kafka,
          admin,
          topology,
          partition: p,
          stateDir: config.stateDir,
          fetcher,
          partitionCounts,
        })
        return new Task({
          topology,
          partition: p,
          logger: log,
          ports,
          partitioner: partitionOf,
          ...(repliesPartitions ? { repliesPartitions } : {}),
          ...(listener ? { listener } : {}),
        })
      },
    })
    this.loop = loop
    this.manager = manager
    await loop.start({
      assigned: (partitions, memberId) => {
        manager.assign(partitions)
        if (standbyReplicas === 0 && standbys.standbys.size === 0) return
        // Standbys of partitions now active here go at once (the task's beforeOpen would close them anyway).
        standbys.update([...standbys.standbys.keys()], partitions)
        void placement.standbysAfterJoin(memberId).then((mine) => {
          if (mine !== undefined) standbys.update(mine, manager.assignment)
        })
      },
      handleBatch: (p, records, hooks) => manager.handleBatch(p, records, hooks),
      position: (p) => manager.position(p),
      groupLost: () => manager.groupLost(),
    })
  }

  /** Stops fetching, lets the batch in flight finish (its transaction commits or aborts), closes tasks, leaves the group. */
  async stop(): Promise<void> {
    await this.loop?.stop()
    await this.standbyManager?.stop()
    await this.manager?.stop()
    await this.fetcher?.close()
    await this.admin?.disconnect().catch(() => undefined)
    await this.members?.close()
  }
}
