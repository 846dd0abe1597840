/**
 * `decider rebuild <topology> [--dry-run]`: recomputes every aggregate's state from the events topic with
 * the decider's current evolve (for when evolve or its stateVersion changed), each event upcast to its type's
 * current schema version, compares it with the changelog's latest snapshot (a snapshot of another stateVersion
 * always differs), and (without --dry-run) writes the snapshots that differ to the changelog in one transaction
 * per partition (through a task's transactional producer, with its send guards) and into the local stores under
 * the state dir. State and version come from the replay (the version of the last event); the dedupe window and
 * source offset of the changelog's snapshot are kept; the stateVersion is the running decider's. The workers of
 * the topology must be stopped (their caches hold the old states).
 */
import { withOutcomes } from '../domain/outcome-codec.ts'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { isProjectionText, loadProjection } from '../topology/projection-loader.ts'
import { rebuildProjectionCommand } from './rebuild-projection.ts'
import { isDeepStrictEqual } from 'node:util'
import { CONTENT_TYPES, decode, encode } from '../domain/codec.ts'
import { stateVersionOf } from '../domain/decider.ts'
import { HEADERS, isReservedKey, type EventEnvelope, type SnapshotRecord } from '../domain/envelopes.ts'
import { upcastEvent } from '../domain/upcasting.ts'
import { recoveryOf, UsageError } from '../errors.ts'
import type { KafkaConnection } from '../kafka/client.ts'
import { KafkaTransactionalProducer } from '../kafka/transactional-producer.ts'
import { storeDir } from '../state/level-store.ts'
import { loadTopology, type Topology } from '../topology/loader.ts'
import { retry } from '../util/retry.ts'
import { cliConfig, cliKafka, progressBar, topicReader, withAdmin } from './common.ts'
import type { ClusterAdmin } from './ports.ts'
import { openStore } from './query.ts'

export interface RebuildOptions {
  config?: string
  stateDir?: string
  dryRun?: boolean
  force?: boolean
  timeout: string
}

export interface Difference {
  partition: number
  aggregateId: string
  current: { version: number; state: unknown; stateVersion: number } | undefined
  replayed: { version: number; state: unknown }
}

const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? null))

export async function rebuildCommand(file: string, o: RebuildOptions): Promise<number> {
  if (isProjectionText(await readFile(file, 'utf8').catch(() => '')))
    return rebuildProjectionCommand(await loadProjection(file), o)
  const topology = await loadTopology(file)
  const config = await cliConfig(o.config)
  const stateDir = o.stateDir ?? config.stateDir
  const kafka = cliKafka(config)
  const timeoutMs = Number(o.timeout)
  const n = topology.definition.partitions
  const { decider } = topology
  const stateVersion = stateVersionOf(decider)

  const ends = await withAdmin(kafka, async (admin) => {
    if (!o.dryRun && !o.force) await refuseWhileRunning(admin, topology)
    return admin.endOffsets(topology.topics.events)
  })
  const total = [...ends.values()].reduce((a, end) => a + Number(end), 0)
  const reader = topicReader(kafka)
  const bar = progressBar('replaying events', total)
  const differences: Difference[] = []
  let aggregates = 0
  let written = 0
  try {
    for (let p = 0; p < n; p++) {
      // 1. Replay: fold each aggregate's events (in offset order = version order) with the current evolve, each
      //    event upcast to its type's current schema version first.
      const replayed = new Map<string, { version: number; state: unknown }>()
      await reader.readPartition(
        topology.topics.events,
        p,
        (chunk) => {
          for (const r of chunk) {
            if (r.key === null || r.value === null) continue
            const e = decode(r.value) as EventEnvelope
            // No command reaches the reserved key space; events there are from before that was checked.
            if (isReservedKey(e.aggregateId)) continue
            const prev = replayed.get(e.aggregateId) ?? { version: 0, state: decider.initialState() }
            const state = decider.evolve(prev.state, upcastEvent(decider, e))
            replayed.set(e.aggregateId, { version: e.version, state })
          }
          bar.increment(chunk.length)
        },
        timeoutMs,
      )
      // 2. The changelog's latest snapshot per aggregate.
      const current = new Map<string, SnapshotRecord>()
      await reader.readPartition(
        topology.topics.changelog,
        p,
        (chunk) => {
          for (const r of chunk) {
            if (r.key === null || isReservedKey(r.key)) continue
            if (r.value === null) current.delete(r.key)
            else current.set(r.key, withOutcomes(decode(r.value) as SnapshotRecord))
          }
        },
        timeoutMs,
      )
      // 3. Compare. Aggregates with a snapshot but no events (only rejections so far) replay to the initial state.
      //    A snapshot of another stateVersion differs even when its state happens to be equal: it is rewritten
      //    under the running one, so the workers trust it.
      const ids = new Set([...replayed.keys(), ...current.keys()])
      aggregates += ids.size
      const changed: SnapshotRecord[] = []
      for (const id of ids) {
        const r = replayed.get(id) ?? { version: 0, state: decider.initialState() }
        const c = current.get(id)
        if (
          c !== undefined &&
          c.version === r.version &&
          (c.stateVersion ?? 1) === stateVersion &&
          isDeepStrictEqual(plain(c.state), plain(r.state))
        )
          continue
        differences.push({
          partition: p,
          aggregateId: id,
          current: c && { version: c.version, state: c.state, stateVersion: c.stateVersion ?? 1 },
          replayed: r,
        })
        changed.push({
          aggregateId: id,
          version: r.version,
          state: r.state,
          recent: c?.recent ?? [],
          sourceOffset: c?.sourceOffset ?? '-1',
          stateVersion,
        })
      }
      if (!o.dryRun && changed.length > 0) {
        await writeChangelog(kafka, topology, p, changed)
        await writeLocalStore(stateDir, topology, p, changed)
        written += changed.length
      }
    }
  } finally {
    bar.stop()
  }

  for (const d of differences) {
    const cur =
      d.current === undefined
        ? 'no snapshot'
        : `version ${d.current.version}${d.current.stateVersion === stateVersion ? '' : ` (stateVersion ${d.current.stateVersion})`} ${JSON.stringify(d.current.state)}`
    console.log(
      `partition ${d.partition} ${d.aggregateId}: changelog ${cur} -> replayed version ${d.replayed.version} ${JSON.stringify(d.replayed.state)}`,
    )
  }
  const summary = `${aggregates} aggregate(s) checked, ${differences.length === 0 ? 'no differences' : `${differences.length} difference(s)`}`
  console.log(
    o.dryRun ? `dry run: ${summary}; nothing written` : `${summary}; ${written} snapshot(s) rewritten`,
  )
  return 0
}

/** Refuses while the topology's consumer group has members: a running worker would overwrite the rebuilt snapshots. */
async function refuseWhileRunning(admin: ClusterAdmin, topology: Topology): Promise<void> {
  const members = await admin.groupMemberCount(topology.applicationId)
  if (members > 0) {
    throw new UsageError(
      `consumer group ${topology.applicationId} has ${members} member(s): stop the workers of ${topology.definition.name} before a rebuild (or --dry-run; --force to write anyway)`,
    )
  }
}

/**
 * The snapshots to their changelog partition in one transaction, through the task's transactional producer
 * (src/kafka/transactional-producer.ts) under the transactional id <applicationId>-rebuild-<partition>, so
 * with a task's send guards: a send kafkajs retried (possible duplicates) or reported done without every
 * partition fails retriable (ProduceRetriedError, ProduceIncompleteError); the transaction is aborted and
 * written again by a new producer, whose init() also ends whatever the failed try left open. A fenced
 * producer (another rebuild of this partition started) fails with TaskFencedError.
 */
async function writeChangelog(
  kafka: KafkaConnection,
  topology: Topology,
  partition: number,
  snapshots: SnapshotRecord[],
): Promise<void> {
  const s = topology.definition.serialization
  const topic = topology.topics.changelog
  const records = snapshots.map((snap) => ({
    topic,
    partition,
    key: snap.aggregateId,
    value: encode(snap, s),
    headers: { [HEADERS.contentType]: CONTENT_TYPES[s], [HEADERS.sourceOffset]: snap.sourceOffset },
  }))
  const writeOnce = async () => {
    const producer = new KafkaTransactionalProducer(kafka, {
      transactionalId: `${topology.applicationId}-rebuild-${partition}`,
      // No consumer offsets: a rebuild never calls sendOffsets, so group and input are never used.
      groupId: topology.applicationId,
      inputTopic: topology.topics.events,
      inputPartition: partition,
      transactionTimeoutMs: topology.definition.processing.transactionTimeoutMs,
      maxRequestBytes: topology.definition.processing.maxRequestBytes,
      // Every record carries its partition.
      partitionCounts: new Map(),
    })
    try {
      await producer.init()
      const txn = await producer.begin()
      try {
        await txn.write(records, undefined, [{ topic, partition }]) // no input consumed: no offsets
        await txn.commit()
      } catch (e) {
        await txn.abort().catch(() => undefined)
        throw e
      }
    } finally {
      await producer.close()
    }
  }
  // Bounded: 5 tries, 200 ms doubling to 2 s.
  await retry(writeOnce, {
    retriable: (e) => recoveryOf(e) === 'retriable',
    tries: 5,
    initialDelayMs: 200,
    maxDelayMs: 2000,
  })
}

/**
 * The same snapshots into the partition's local store, when this machine has one. Its checkpoint stays: the
 * next start replays the changelog after it, rebuilt records included, and gets the same values.
 */
async function writeLocalStore(
  stateDir: string,
  topology: Topology,
  partition: number,
  snapshots: SnapshotRecord[],
): Promise<void> {
  if (!existsSync(storeDir(stateDir, topology.definition.name, partition))) return
  const store = await openStore(stateDir, topology, partition)
  try {
    const checkpoint = await store.readCheckpoint()
    if (checkpoint !== undefined) await store.write(snapshots, checkpoint)
  } finally {
    await store.close()
  }
}
