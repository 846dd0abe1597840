/**
 * Topic check and creation at start-up (the topic table in README.md). Commands, events and changelog must be
 * co-partitioned (same count); the changelog must be compacted; the events topic keeps records forever.
 */
import type { Admin } from 'kafkajs'
import { ConfigError } from '../errors.ts'
import type { Topology } from '../topology/loader.ts'
import type { ProjectionTopology } from '../topology/projection-loader.ts'
import { retry } from '../util/retry.ts'
import { retryMetadata } from './errors.ts'

export interface TopicSpec {
  topic: string
  role: 'commands' | 'events' | 'changelog' | 'replies' | 'deadLetters' | 'repartition'
  numPartitions: number
  configs: Record<string, string>
  /** Must the partition count equal the topology's? */
  coPartitioned: boolean
}

export function topicSpecs(t: Topology): TopicSpec[] {
  const n = t.definition.partitions
  return [
    { topic: t.topics.commands, role: 'commands', numPartitions: n, configs: {}, coPartitioned: true },
    {
      topic: t.topics.events,
      role: 'events',
      numPartitions: n,
      configs: { 'retention.ms': '-1', 'retention.bytes': '-1' },
      coPartitioned: true,
    },
    {
      topic: t.topics.changelog,
      role: 'changelog',
      numPartitions: n,
      configs: { 'cleanup.policy': 'compact', 'retention.ms': '-1' },
      coPartitioned: true,
    },
    { topic: t.topics.replies, role: 'replies', numPartitions: n, configs: {}, coPartitioned: false },
    { topic: t.topics.deadLetters, role: 'deadLetters', numPartitions: 1, configs: {}, coPartitioned: false },
  ]
}

export interface TopicCheck {
  created: string[]
  problems: string[]
}

/** Creates missing topics when allowed, then verifies partitions and configs. Throws ConfigError with every problem. */
export async function ensureTopics(
  admin: Admin,
  t: Topology,
  opts: { create: boolean; replicationFactor?: number },
): Promise<TopicCheck> {
  return ensureTopicSpecs(admin, t, topicSpecs(t), opts)
}

/**
 * A projection's topics: the repartition topic and the compacted views changelog (co-partitioned: one projection
 * task per partition), and its dead letters.
 */
export function projectionTopicSpecs(p: ProjectionTopology): TopicSpec[] {
  const n = p.definition.partitions
  return [
    { topic: p.topics.repartition, role: 'repartition', numPartitions: n, configs: {}, coPartitioned: true },
    {
      topic: p.topics.changelog,
      role: 'changelog',
      numPartitions: n,
      configs: { 'cleanup.policy': 'compact', 'retention.ms': '-1' },
      coPartitioned: true,
    },
    { topic: p.topics.deadLetters, role: 'deadLetters', numPartitions: 1, configs: {}, coPartitioned: false },
  ]
}

/** ensureTopics for any topic list (a decider's or a projection's). */
export async function ensureTopicSpecs(
  admin: Admin,
  t: { file: string; definition: { name: string; replicationFactor?: number | undefined } },
  specs: TopicSpec[],
  opts: { create: boolean; replicationFactor?: number },
): Promise<TopicCheck> {
  const existing = new Set(await admin.listTopics())
  const missing = specs.filter((s) => !existing.has(s.topic))
  const created: string[] = []
  if (missing.length > 0 && opts.create) {
    const rf = t.definition.replicationFactor ?? opts.replicationFactor
    // Not waitForLeaders: kafkajs then fails intermittently with UNKNOWN_TOPIC_OR_PARTITION (it retries only
    // LEADER_NOT_AVAILABLE). Wait for leaders ourselves below.
    // Another worker may create the same topics at the same time: TOPIC_ALREADY_EXISTS is not an error here.
    await admin
      .createTopics({
        waitForLeaders: false,
        topics: missing.map((s) => ({
          topic: s.topic,
          numPartitions: s.numPartitions,
          ...(rf !== undefined ? { replicationFactor: rf } : {}),
          configEntries: Object.entries(s.configs).map(([name, value]) => ({ name, value })),
        })),
      })
      .catch((e: unknown) => {
        if (!alreadyExists(e)) throw e
      })
    created.push(...missing.map((s) => s.topic))
    await waitForLeaders(
      admin,
      missing.map((s) => s.topic),
    )
  } else if (missing.length > 0) {
    throw new ConfigError(
      `topology ${t.definition.name}: missing topics ${missing.map((s) => s.topic).join(', ')} and topic creation is disabled ` +
        `(topics.create=false). Create them with \`decider topics create ${t.file}\` or enable creation.`,
    )
  }
  // Just created (by us, or by another worker starting at the same time): a broker that has not applied the
  // controller's records yet answers UNKNOWN_TOPIC_OR_PARTITION for a while; retried, bounded.
  const problems = await retryMetadata(() => checkTopics(admin, specs))
  if (problems.length > 0) {
    throw new ConfigError(`topology ${t.definition.name}: the topics do not fit:\n  ${problems.join('\n  ')}`)
  }
  return { created, problems }
}

/** Partition count of each topic a task writes to (events, changelog, replies, dead letters). */
export async function outputPartitionCounts(admin: Admin, t: Topology): Promise<Map<string, number>> {
  const topics = [...new Set([t.topics.events, t.topics.changelog, t.topics.replies, t.topics.deadLetters])]
  const meta = await retryMetadata(() => admin.fetchTopicMetadata({ topics }))
  return new Map(meta.topics.map((m) => [m.name, m.partitions.length]))
}

export async function checkTopics(admin: Admin, specs: TopicSpec[]): Promise<string[]> {
  const problems: string[] = []
  const meta = await admin.fetchTopicMetadata({ topics: specs.map((s) => s.topic) })
  const counts = new Map(meta.topics.map((m) => [m.name, m.partitions.length]))
  for (const s of specs) {
    const count = counts.get(s.topic)
    if (count === undefined) problems.push(`${s.role} topic ${s.topic} does not exist`)
    else if (s.coPartitioned && count !== s.numPartitions) {
      problems.push(
        `${s.role} topic ${s.topic} has ${count} partitions, the topology needs ${s.numPartitions} (${s.role === 'repartition' || specs.some((x) => x.role === 'repartition') ? 'repartition and views changelog' : 'commands, events and changelog'} must be co-partitioned); set partitions: ${count} or recreate the topic`,
      )
    }
  }
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: specs
      .filter((s) => Object.keys(s.configs).length > 0)
      .map((s) => ({ type: 2, name: s.topic })),
  })
  for (const r of described.resources) {
    const spec = specs.find((s) => s.topic === r.resourceName)
    if (!spec) continue
    const value = (name: string) => r.configEntries.find((c) => c.configName === name)?.configValue
    if (spec.role === 'changelog' && !String(value('cleanup.policy')).includes('compact')) {
      problems.push(
        `changelog topic ${spec.topic} has cleanup.policy=${value('cleanup.policy')}; it must be compact`,
      )
    }
    if (
      spec.role === 'changelog' &&
      String(value('cleanup.policy')).includes('delete') &&
      value('retention.ms') !== '-1'
    ) {
      problems.push(
        `changelog topic ${spec.topic} deletes by time (retention.ms=${value('retention.ms')}); use cleanup.policy=compact only`,
      )
    }
    if (spec.role === 'events' && value('retention.ms') !== '-1') {
      problems.push(
        `events topic ${spec.topic} has retention.ms=${value('retention.ms')}; the event store must keep events forever (retention.ms=-1)`,
      )
    }
  }
  return problems
}

async function waitForLeaders(admin: Admin, topics: string[]): Promise<void> {
  // Bounded: 30 s, the time a healthy cluster needs many times over. Any error means "not known yet".
  await retry(
    async () => {
      const meta = await admin.fetchTopicMetadata({ topics })
      if (
        meta.topics.length === topics.length &&
        meta.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))
      )
        return
      throw new Error(`topics ${topics.join(', ')} have no leaders after 30 s`)
    },
    { retriable: () => true, timeoutMs: 30_000, initialDelayMs: 200, maxDelayMs: 200 },
  )
}

/** kafkajs' createTopics error when every failure is TOPIC_ALREADY_EXISTS (created meanwhile by someone else). */
function alreadyExists(e: unknown): boolean {
  const errors = (e as { errors?: { type?: string }[] }).errors
  if (Array.isArray(errors) && errors.length > 0)
    return errors.every((x) => x.type === 'TOPIC_ALREADY_EXISTS')
  return (e as { type?: string }).type === 'TOPIC_ALREADY_EXISTS'
}
