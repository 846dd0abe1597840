/** The topology definition file (topologies/*.yaml): wiring only; the logic lives in the decider module. */
import { z } from 'zod'

export const topicName = z
  .string()
  .regex(
    /^[a-zA-Z0-9._-]{1,249}$/,
    'a Kafka topic name: letters, digits, ".", "_" or "-", at most 249 characters',
  )

export const topologySchema = z
  .object({
    $schema: z.string().optional(),
    kind: z
      .literal('decider')
      .optional()
      .describe('"decider" (the default) or, in a projection file, "projection"'),
    name: z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9._-]{0,99}$/,
        'lowercase letters, digits, ".", "_" or "-" (it names the group, the transactional ids and the state folder)',
      ),
    decider: z.string().min(1).describe('path of the decider module, relative to this file'),
    topics: z
      .object({
        commands: topicName.optional(),
        events: topicName.optional(),
        changelog: topicName.optional(),
        replies: topicName.optional(),
        deadLetters: topicName.optional(),
      })
      .strict()
      .prefault({}),
    partitions: z.number().int().min(1).max(10_000).default(6),
    replicationFactor: z.number().int().min(1).max(16).optional(),
    serialization: z.enum(['msgpack', 'json']).default('msgpack'),
    processing: z
      .object({
        maxBatchCommands: z.number().int().min(1).max(100_000).default(1000),
        maxBytesPerPartition: z.number().int().min(1024).default(1_048_576),
        /** A fetch is answered at this many bytes or after fetchMaxWaitMs: larger transactions under light load. */
        fetchMinBytes: z.number().int().min(1).max(52_428_800).default(1),
        fetchMaxWaitMs: z.number().int().min(0).max(10_000).default(100),
        /**
         * A partition starts a transaction at most once per this many ms (0: whenever the previous one is done): under
         * light load, fewer and larger transactions (see consumer-loop.ts).
         */
        commitIntervalMs: z.number().int().min(0).max(10_000).default(20),
        /**
         * A partition's input offset goes into its transaction at most once per this many ms, and 100 ms after its last
         * transaction when it goes quiet (0: into every transaction). A new owner resumes after the offset marker each
         * transaction writes to the changelog, so the group's committed offset may lag by this much (see task.ts).
         */
        offsetCommitIntervalMs: z.number().int().min(0).max(60_000).default(1000),
        transactionTimeoutMs: z.number().int().min(1000).max(900_000).default(10_000),
        snapshotCacheSize: z.number().int().min(0).default(100_000),
        snapshotCacheBytes: z.number().int().min(0).default(67_108_864),
        maxRecordBytes: z.number().int().min(1024).default(1_000_000),
        maxRequestBytes: z.number().int().min(1024).default(900_000),
        /** Warm copies of each partition's store kept on other workers (standby replicas). */
        standbyReplicas: z.number().int().min(0).max(8).default(0),
      })
      .strict()
      .prefault({}),
    errors: z
      .object({
        onDecideError: z.enum(['fail-command', 'stop']).default('fail-command'),
      })
      .strict()
      .prefault({}),
    dedupe: z
      .object({
        perAggregate: z.number().int().min(0).max(10_000).default(32),
        /**
         * How the remembered outcomes are written with msgpack (src/domain/outcome-codec.ts): compact arrays, or maps
         * as workers older than this setting wrote them (set while a rolling upgrade from such a worker is in progress).
         */
        outcomes: z
          .enum(['compact', 'objects'])
          .default('compact')
          .describe(
            'how remembered outcomes are written (msgpack): "compact" arrays (half the bytes), or "objects" (maps) while a rolling upgrade from a worker older than this setting is in progress',
          ),
      })
      .strict()
      .prefault({}),
  })
  .strict()

export type TopologyFile = z.infer<typeof topologySchema>
/** What a topology file may contain (defaults not yet applied). */
export type TopologyInput = z.input<typeof topologySchema>

export interface TopicNames {
  commands: string
  events: string
  changelog: string
  replies: string
  deadLetters: string
}

export function topicNames(t: Pick<TopologyFile, 'name' | 'topics'>): TopicNames {
  return {
    commands: t.topics.commands ?? `${t.name}.commands`,
    events: t.topics.events ?? `${t.name}.events`,
    changelog: t.topics.changelog ?? `${t.name}-snapshots-changelog`,
    replies: t.topics.replies ?? `${t.name}.replies`,
    deadLetters: t.topics.deadLetters ?? `${t.name}.dlq`,
  }
}
