/**
 * `decider rebuild <projection.yaml>`: projects every view again from the beginning of the source events, for when
 * the projector changed (its code, its `version`). The projection's workers must be stopped. It removes what the
 * old projector made:
 *   1. each views changelog partition gets, in one transaction (the partition's own transactional id: a zombie task
 *      is fenced), a tombstone for every view and a generation record: any store that replays past it, on any
 *      machine, drops what it held before (runtime/projection-task.ts), and readers of the topic see no old view;
 *   2. the repartition topic is deleted (its routed events were keyed by the old key()); the next worker recreates it;
 *   3. the projection's and its routers' consumer groups are deleted: routing starts again at offset 0;
 *   4. the local view stores under this machine's state dir are removed (they would be dropped on restore anyway).
 */
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { UsageError } from '../errors.ts'
import { routerGroupId, type ProjectionTopology } from '../topology/projection-loader.ts'
import { randomUUID } from 'node:crypto'
import { CONTENT_TYPES, encode } from '../domain/codec.ts'
import { HEADERS, isReservedKey } from '../domain/envelopes.ts'
import { GENERATION_KEY, type GenerationRecord } from '../domain/projection-records.ts'
import type { KafkaConnection } from '../kafka/client.ts'
import { KafkaTopicReader } from '../kafka/topic-reader.ts'
import { KafkaTransactionalProducer } from '../kafka/transactional-producer.ts'
import type { OutputRecord } from '../runtime/ports.ts'
import { cliConfig, cliKafka, withAdmin } from './common.ts'

export interface RebuildProjectionOptions {
  config?: string
  stateDir?: string
  dryRun?: boolean
  timeout: string
}

export async function rebuildProjectionCommand(
  p: ProjectionTopology,
  o: RebuildProjectionOptions,
): Promise<number> {
  const config = await cliConfig(o.config)
  const stateDir = o.stateDir ?? config.stateDir
  const groups = [p.applicationId, ...p.sources.map((s) => routerGroupId(p, s.topic))]
  const topics = [p.topics.repartition]
  const local = path.join(stateDir, p.definition.name)
  if (o.dryRun) {
    console.log(
      `rebuild of projection ${p.definition.name} would delete topics ${topics.join(', ')}, consumer groups ${groups.join(', ')} and ${local}; the next worker projects every event of ${p.sources.map((s) => s.topic).join(', ')} again`,
    )
    return 0
  }
  const kafka = cliKafka(config)
  await withAdmin(kafka, async (admin) => {
    for (const g of groups) {
      const members = await admin.groupMemberCount(g)
      if (members > 0)
        throw new UsageError(
          `consumer group ${g} has ${members} member(s): stop the workers running projection ${p.definition.name} first, then rebuild`,
        )
    }
    const existing = new Set(await admin.topicNames())
    if (existing.has(p.topics.changelog)) await resetChangelog(kafka, p, Number(o.timeout))
    const deleted = await admin.deleteTopics([p.topics.repartition], Number(o.timeout))
    const gone = await admin.deleteGroups(groups)
    console.log(
      `deleted topics: ${deleted.join(', ') || '(none)'}; consumer groups: ${gone.join(', ') || '(none)'}`,
    )
  })
  await rm(local, { recursive: true, force: true })
  console.log(
    `removed ${local}. Start the workers: projection ${p.definition.name} is projected again from the start of ${p.sources.map((s) => s.topic).join(', ')}`,
  )
  return 0
}

/** Step 1: per partition, tombstones for every live view and the generation record, in one transaction. */
async function resetChangelog(
  kafka: KafkaConnection,
  p: ProjectionTopology,
  timeoutMs: number,
): Promise<void> {
  const generation = randomUUID()
  const d = p.definition
  const reader = new KafkaTopicReader(kafka)
  const headers = { [HEADERS.contentType]: CONTENT_TYPES[d.serialization] }
  let tombstones = 0
  for (let q = 0; q < d.partitions; q++) {
    const live = new Set<string>()
    await reader.readPartition(
      p.topics.changelog,
      q,
      (records) => {
        for (const r of records) {
          if (r.key === null || isReservedKey(r.key)) continue
          if (r.value === null) live.delete(r.key)
          else live.add(r.key)
        }
      },
      timeoutMs,
    )
    const record: GenerationRecord = { marker: 'generation', generation }
    const out: OutputRecord[] = [...live].map((key) => ({
      topic: p.topics.changelog,
      partition: q,
      key,
      value: null,
      headers,
    }))
    out.push({
      topic: p.topics.changelog,
      partition: q,
      key: GENERATION_KEY,
      value: encode(record, d.serialization),
      headers,
    })
    const producer = new KafkaTransactionalProducer(kafka, {
      transactionalId: `${p.applicationId}-${p.topics.repartition}-${q}`,
      groupId: p.applicationId,
      inputTopic: p.topics.repartition,
      inputPartition: q,
      transactionTimeoutMs: d.processing.transactionTimeoutMs,
      maxRequestBytes: d.processing.maxRequestBytes,
      partitionCounts: new Map(),
    })
    try {
      await producer.init()
      const txn = await producer.begin()
      try {
        await txn.write(out, undefined, [{ topic: p.topics.changelog, partition: q }])
      } catch (e) {
        await txn.abort().catch(() => undefined)
        throw e
      }
      await txn.commit()
    } finally {
      await producer.close()
    }
    tombstones += live.size
  }
  console.log(
    `views changelog ${p.topics.changelog}: ${tombstones} view(s) deleted, generation ${generation}`,
  )
}
