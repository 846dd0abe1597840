/**
 * The projection topology file (`kind: projection`): a read model built from one or more decider topologies'
 * events. Wiring only; the logic lives in the projector module (defineProjection). README "Read side".
 */
import { z } from 'zod'
import { topicName } from './schema.ts'

const source = z.union([
  z
    .object({
      topology: z
        .string()
        .min(1)
        .describe('a decider topology file (relative to this file): its events topic, upcast by its decider'),
    })
    .strict(),
  z.object({ topic: topicName.describe('an events topic, read as stored (no upcasting)') }).strict(),
])

export const projectionTopologySchema = z
  .object({
    $schema: z.string().optional(),
    kind: z.literal('projection'),
    name: z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9._-]{0,99}$/,
        'lowercase letters, digits, ".", "_" or "-" (it names the groups, the transactional ids and the state folder)',
      ),
    projection: z.string().min(1).describe('path of the projector module, relative to this file'),
    sources: z.array(source).min(1).max(32),
    topics: z
      .object({
        repartition: topicName.optional(),
        changelog: topicName.optional(),
        deadLetters: topicName.optional(),
      })
      .strict()
      .prefault({}),
    partitions: z.number().int().min(1).max(10_000).default(6),
    replicationFactor: z.number().int().min(1).max(16).optional(),
    serialization: z.enum(['msgpack', 'json']).default('msgpack'),
    processing: z
      .object({
        maxBatchEvents: z.number().int().min(1).max(100_000).default(1000),
        maxBytesPerPartition: z.number().int().min(1024).default(1_048_576),
        transactionTimeoutMs: z.number().int().min(1000).max(900_000).default(10_000),
        viewCacheSize: z.number().int().min(0).default(100_000),
        purgeEvery: z
          .number()
          .int()
          .min(1)
          .default(10_000)
          .describe('repartition records applied between two purges (DeleteRecords) of a partition'),
        maxRecordBytes: z.number().int().min(1024).default(1_000_000),
        maxRequestBytes: z.number().int().min(1024).default(900_000),
      })
      .strict()
      .prefault({}),
    errors: z
      .object({
        onProjectError: z.enum(['dead-letter', 'stop']).default('dead-letter'),
      })
      .strict()
      .prefault({}),
  })
  .strict()

export type ProjectionFile = z.infer<typeof projectionTopologySchema>
export type ProjectionInput = z.input<typeof projectionTopologySchema>

export interface ProjectionTopicNames {
  /** Events re-keyed by view key, `partitions` partitions: one projection task per partition. */
  repartition: string
  /** Compacted: the views (key = view key), and the offset markers. */
  changelog: string
  deadLetters: string
}

export function projectionTopicNames(t: Pick<ProjectionFile, 'name' | 'topics'>): ProjectionTopicNames {
  return {
    repartition: t.topics.repartition ?? `${t.name}.repartition`,
    changelog: t.topics.changelog ?? `${t.name}-views-changelog`,
    deadLetters: t.topics.deadLetters ?? `${t.name}.dlq`,
  }
}
