/**
 * One projection in a worker process: checks (or creates) its topics, then runs its two stages, each a Kafka
 * consumer loop over a task manager, as TopologyRunner does for a decider:
 *   route ..... one group per source events topic (`<name>.route.<topic>`): RouterTasks -> the repartition topic
 *   project ... the projection's group (`<name>`) over the repartition topic: ProjectionTasks -> views
 * The projection group's members announce their HTTP endpoint, so view reads are routed to the owner.
 */
import type { Logger } from 'pino'
import type { WorkerConfig } from '../config/worker-config.ts'
import type { KafkaConnection } from '../kafka/client.ts'
import { KafkaConsumerLoop, type ConsumerLoopListener } from '../kafka/consumer-loop.ts'
import { partitionOf } from '../kafka/partitioner.ts'
import { PartitionFetcher, RESTORE_FETCH } from '../kafka/partition-fetcher.ts'
import { kafkaProjectionPorts, kafkaRouterPorts } from '../kafka/projection-ports.ts'
import { retryMetadata } from '../kafka/errors.ts'
import { ensureTopics, ensureTopicSpecs, projectionTopicSpecs } from '../kafka/topics.ts'
import { ProjectionTask, type ProjectionStats } from '../runtime/projection-task.ts'
import { RouterTask } from '../runtime/router-task.ts'
import { TaskManager, type ManagedTask, type TaskManagerListener } from '../runtime/task-manager.ts'
import type { TaskState } from '../runtime/task-state.ts'
import { routerGroupId, type ProjectionTopology } from '../topology/projection-loader.ts'
import { GroupMembers } from './group-members.ts'

/** Observation of a projection (metrics, readiness). */
export interface ProjectionListener extends TaskManagerListener, ConsumerLoopListener {
  stateChanged?(task: { id: string; partition: number }, from: TaskState, to: TaskState): void
  /** A router task's state changed (stage 1; its partition is a source partition, not a projection's). */
  routerStateChanged?(task: { id: string; partition: number }, from: TaskState, to: TaskState): void
  projected?(task: ProjectionTask, stats: ProjectionStats, seconds: number): void
  routed?(stats: { events: number; routed: number; deadLettered: number }, seconds: number): void
  restored?(task: ProjectionTask, records: number, seconds: number): void
}

export interface ProjectionRunnerOptions {
  projection: ProjectionTopology
  config: WorkerConfig
  kafka: KafkaConnection
  logger: Logger
  advertisedUrl?: string
  listener?: ProjectionListener
  onFatal: (e: Error) => void
}

interface Stage<T extends ManagedTask> {
  loop: KafkaConsumerLoop
  manager: TaskManager<T>
}

export class ProjectionRunner {
  private admin: { disconnect(): Promise<void> } | undefined
  private fetcher: PartitionFetcher | undefined
  private routers: Stage<RouterTask>[] = []
  private views: Stage<ProjectionTask> | undefined
  private members: GroupMembers | undefined
  private readonly log: Logger

  constructor(private readonly o: ProjectionRunnerOptions) {
    this.log = o.logger.child({ projection: o.projection.definition.name })
  }

  get name(): string {
    return this.o.projection.definition.name
  }

  /** The live projection tasks by partition (empty before start). */
  get tasks(): ReadonlyMap<number, ProjectionTask> {
    return this.views?.manager.tasks ?? new Map()
  }

  isReady(): boolean {
    return (
      this.views !== undefined &&
      this.views.manager.isReady() &&
      this.routers.every((r) => r.manager.isReady())
    )
  }

  stalls(): string[] {
    return [...(this.views?.manager.stalls() ?? []), ...this.routers.flatMap((r) => r.manager.stalls())]
  }

  async start(): Promise<void> {
    const { projection: p, config, kafka, listener } = this.o
    const admin = kafka.admin()
    await admin.connect()
    this.admin = admin
    // Before joining: members a killed previous process left in these groups go now (see TopologyRunner).
    const members = await GroupMembers.acquire({
      stateDir: config.stateDir,
      name: this.name,
      logger: this.log,
    })
    this.members = members
    const groups = [p.applicationId, ...p.sources.map((s) => routerGroupId(p, s.topic))]
    const leaving = members.removeDead(kafka, groups, Math.min(config.consumer.sessionTimeoutMs, 10_000))
    const fetcher = new PartitionFetcher(kafka, RESTORE_FETCH)
    this.fetcher = fetcher
    const create = {
      create: config.topics.create,
      ...(config.topics.replicationFactor !== undefined
        ? { replicationFactor: config.topics.replicationFactor }
        : {}),
    }
    for (const s of p.sources) if (s.topology) await ensureTopics(admin, s.topology, create)
    const check = await ensureTopicSpecs(admin, p, projectionTopicSpecs(p), create)
    if (check.created.length > 0) this.log.info({ created: check.created }, 'created topics')
    const topics = [
      p.topics.repartition,
      p.topics.changelog,
      p.topics.deadLetters,
      ...p.sources.map((s) => s.topic),
    ]
    const meta = await retryMetadata(() => admin.fetchTopicMetadata({ topics }))
    const partitionCounts = new Map(meta.topics.map((m) => [m.name, m.partitions.length]))
    const consumer = config.consumer
    await leaving
    const loopOptions = {
      kafka,
      maxBytesPerPartition: p.definition.processing.maxBytesPerPartition,
      laneRecords: p.definition.processing.maxBatchEvents,
      sessionTimeoutMs: consumer.sessionTimeoutMs,
      heartbeatIntervalMs: consumer.heartbeatIntervalMs,
      rebalanceTimeoutMs: consumer.rebalanceTimeoutMs,
      onGone: this.o.onFatal,
    }

    // Stage 2 first: its tasks are what reads and readiness look at.
    const viewsLoop = new KafkaConsumerLoop({
      ...loopOptions,
      groupId: p.applicationId,
      onJoined: members.recorder(p.applicationId),
      topic: p.topics.repartition,
      partitions: p.definition.partitions,
      logger: this.log,
      ...(this.o.advertisedUrl !== undefined ? { endpoint: { http: this.o.advertisedUrl } } : {}),
      ...(listener ? { listener } : {}),
    })
    const viewsManager = new TaskManager<ProjectionTask>({
      name: p.definition.name,
      consumer: viewsLoop,
      logger: this.log,
      ...(listener ? { listener } : {}),
      onFatal: this.o.onFatal,
      createTask: (q) => {
        const log = this.log.child({ partition: q, task: `${p.definition.name}[${q}]` })
        return new ProjectionTask({
          projection: p,
          partition: q,
          logger: log,
          ...kafkaProjectionPorts({
            kafka,
            admin,
            projection: p,
            partition: q,
            logger: log,
            partitionCounts,
            stateDir: config.stateDir,
            fetcher,
          }),
          ...(listener?.stateChanged ? { stateChanged: listener.stateChanged } : {}),
          ...(listener?.projected ? { committed: listener.projected } : {}),
          ...(listener?.restored ? { restored: listener.restored } : {}),
        })
      },
    })
    this.views = { loop: viewsLoop, manager: viewsManager }

    for (const source of p.sources) {
      const group = routerGroupId(p, source.topic)
      const log = this.log.child({ stage: 'route', source: source.topic })
      const loop = new KafkaConsumerLoop({
        ...loopOptions,
        groupId: group,
        onJoined: members.recorder(group),
        topic: source.topic,
        partitions: partitionCounts.get(source.topic) ?? 1,
        logger: log,
      })
      const manager = new TaskManager<RouterTask>({
        name: group,
        consumer: loop,
        logger: log,
        onFatal: this.o.onFatal,
        createTask: (sp) =>
          new RouterTask({
            projection: p,
            sourceTopic: source.topic,
            partition: sp,
            partitioner: partitionOf,
            logger: log.child({ partition: sp }),
            ...kafkaRouterPorts({
              kafka,
              admin,
              projection: p,
              partition: sp,
              logger: log,
              partitionCounts,
              sourceTopic: source.topic,
            }),
            ...(listener?.routed ? { committed: listener.routed } : {}),
            ...(listener?.routerStateChanged ? { stateChanged: listener.routerStateChanged } : {}),
          }),
      })
      this.routers.push({ loop, manager })
    }

    for (const stage of [this.views, ...this.routers] as Stage<ManagedTask>[]) {
      await stage.loop.start({
        assigned: (partitions) => stage.manager.assign(partitions),
        handleBatch: (q, records, hooks) => stage.manager.handleBatch(q, records, hooks),
        position: (q) => stage.manager.position(q),
        groupLost: () => stage.manager.groupLost(),
      })
    }
  }

  async stop(): Promise<void> {
    const stages = [...this.routers, ...(this.views ? [this.views] : [])] as Stage<ManagedTask>[]
    await Promise.allSettled(stages.map((s) => s.loop.stop()))
    await Promise.allSettled(stages.map((s) => s.manager.stop()))
    await this.fetcher?.close()
    await this.admin?.disconnect().catch(() => undefined)
    await this.members?.close()
  }
}
