/**
 * The exactly-once verifier (issue 4), in the spirit of Kafka's streams_eos_test / EosTestDriver:
 * a deterministic bank workload from a seed, several worker processes, and while it flows: SIGKILL of a
 * random worker at a random moment (restarted on the same state dir), scaling 3 -> 1 -> 3, and in 3-broker
 * mode a broker killed and restarted. Then, at quiescence, it checks reading read_committed:
 *   a. one reply per input record, with the status an independent model predicts;
 *   b. per aggregate, event versions 1..n, no duplicate eventId;
 *   c. the last changelog snapshot == fold(events) == the model; every LevelDB snapshot == fold of a prefix;
 *   d. no hanging transaction: a marker written to every output partition is visible read_committed;
 *   e. each malformed record is in the dead-letter topic exactly once;
 *   f. with hostile input: each hostile record dead-lettered once per copy on the commands topic with a right
 *      reason, aborted transactional commands never processed, committed ones once; no partition stood still
 *      longer than the bound while it had lag; no worker exited by itself;
 *   g. every LevelDB event index == the events topic per aggregate, up to its checkpoint; each partition's
 *      whole events indexed by some store (index-check.ts).
 *   h. the workers also run a projection of the bank events (fan-out, repartitioned): its views changelog == the
 *      model of the committed events, every view store == the log up to the source positions it claims
 *      (projection-check.ts).
 */
import { writeFileSync } from 'node:fs'
import { Kafka, logLevel } from 'kafkajs'
import { ensureTopics } from '../../src/kafka/topics.ts'
import { loadTopology } from '../../src/topology/loader.ts'
import { findHangingTransactions, verifyDeadLetters, verifyStores } from './checks.ts'
import { writeFailureDump } from './failure-dump.ts'
import { verifyIndexes } from './index-check.ts'
import { verifySnapshotStores } from './snapshot-check.ts'
import { loadProjection, type ProjectionTopology } from '../../src/topology/projection-loader.ts'
import {
  changelogViews,
  expectedViews,
  sortedEntries,
  verifyProjection,
  writeProjection,
} from './projection-check.ts'
import { isDeepStrictEqual } from 'node:util'
import {
  hostileRecords,
  sendFlush,
  sendTransactional,
  verifyHostile,
  type TransactionalTraffic,
} from './hostile.ts'
import { malformedRecord, type Malformed } from './malformed.ts'
import { ProgressMonitor } from './progress.ts'
import { runChaos, workerSlots } from './supervisor.ts'
import { startSender } from './sender.ts'
import type { VerifyOptions, VerifySummary } from './verify-types.ts'
import {
  bankWorkload,
  inputCommands,
  tempDir,
  verifyBankRun,
  waitForLog,
  writeBankTopology,
  type Cmd,
} from './bank.ts'

export type { VerifyOptions, VerifySummary } from './verify-types.ts'

export async function runEosVerification(o: VerifyOptions): Promise<VerifySummary> {
  const started = Date.now()
  let rnd = o.seed >>> 0
  const random = () => ((rnd = (Math.imul(rnd, 1664525) + 1013904223) >>> 0), rnd / 2 ** 32)
  const kafka = new Kafka({
    brokers: o.brokers,
    clientId: 'eos-verifier',
    logLevel: logLevel.NOTHING,
    retry: { retries: 10 },
  })
  const dir = tempDir('verify')
  const name = `verify-${o.seed}-${Date.now()}`
  const file = writeBankTopology(
    dir,
    name,
    (o.replicationFactor ? `replicationFactor: ${o.replicationFactor}\n` : '') +
      (o.standbyReplicas ? `processing:\n  standbyReplicas: ${o.standbyReplicas}\n` : ''),
  )
  const topology = await loadTopology(file)
  const projectionFile = o.projection === false ? undefined : writeProjection(dir, `${name}-views`, file)
  const projection = projectionFile === undefined ? undefined : await loadProjection(projectionFile)
  const admin = kafka.admin()
  await admin.connect()
  await ensureTopics(admin, topology, { create: true })

  const cmds = bankWorkload(o.seed, o.accounts, o.commands)
  const malformedCount = Math.floor((o.commands * o.malformedPer10k) / 10_000)
  const malformed = Array.from({ length: malformedCount }, (_, i) => malformedRecord(i, o.seed))
  const hostile = hostileRecords(
    o.seed,
    Math.floor((o.commands * (o.hostilePer10k ?? 0)) / 10_000),
    topology.definition.partitions,
  )
  // Both kinds interleaved, so hostile records are spread over the whole run too.
  const bad: Malformed[] = []
  for (let i = 0; i < Math.max(malformed.length, hostile.length); i++) {
    if (i < malformed.length) bad.push(malformed[i]!)
    const h = hostile[i]
    if (h) bad.push({ ...h, reason: h.reasons.join('|') })
  }

  const workers = workerSlots(projectionFile === undefined ? file : [file, projectionFile], dir, o.brokers)
  for (let i = 0; i < o.workers; i++) workers.start(i)
  await Promise.all(workers.slots.map((w) => waitForLog(w!, /task running/, 1, 120_000)))
  o.log(
    `workers up: ${o.workers}; sending ${cmds.length} commands + ${malformed.length} malformed at ~${o.rate}/s`,
  )

  // Progress monitor: the group's committed offsets; the longest time they did not move while work was pending.
  const monitor = new ProgressMonitor(admin, topology)
  monitor.start()

  // Sender: commands interleaved with malformed records, paced.
  const sender = startSender(kafka, topology, cmds, bad, o)
  const transactional: Promise<TransactionalTraffic> = sendTransactional(
    kafka,
    topology,
    o.seed,
    o.transactionRounds ?? 0,
  )

  // Chaos: until sending is done and every requested fault happened.
  const { kills, scaleCycles, brokerRestarts } = await runChaos(o, workers, random, sender, cmds)
  await sender.sending
  const traffic = await transactional
  if (traffic.aborted.length > 0) await sendFlush(kafka, topology, o.seed)
  o.log(`all sent; waiting for quiescence`)
  const inputs = await inputCommands(kafka, topology.topics.commands, cmds)
  await monitor.waitForNoLag(o.quiesceTimeoutMs)
  monitor.stop()
  if (projection !== undefined) await waitForViews(kafka, projection, o.quiesceTimeoutMs)

  // Clean stop so every LevelDB can be opened and checked.
  await Promise.all(workers.alive().map((i) => workers.stop(i, 'SIGTERM')))
  const rebalances = workers.outputs.join('\n').match(/"msg":"assignment"/g)?.length ?? 0

  o.log(`verifying`)
  const v = await verifyBankRun(kafka, topology.topics, cmds)
  const problems = [...v.problems]
  const storeProblems = await verifyStores(kafka, topology, dir, o.workers)
  problems.push(...storeProblems)
  const index = await verifyIndexes(kafka, topology, dir, o.workers)
  problems.push(...index.problems)
  const snapshots = await verifySnapshotStores(kafka, topology, dir, o.workers)
  problems.push(...snapshots.problems)
  const views =
    projection === undefined ? undefined : await verifyProjection(kafka, projection, dir, o.workers)
  problems.push(...(views?.problems ?? []))
  const { problems: hanging, slowestSeconds: markerVisibleSeconds } = await findHangingTransactions(
    kafka,
    admin,
    topology,
    o.brokers,
  )
  problems.push(...hanging)
  const dlqProblems = await verifyDeadLetters(kafka, topology, malformed)
  problems.push(...dlqProblems)
  const hostileProblems =
    hostile.length > 0 || traffic.committed.length > 0
      ? await verifyHostile(kafka, topology, hostile, traffic)
      : []
  const stallBound = o.maxPartitionStallMs ?? Infinity
  if (monitor.maxPartitionStallMs > stallBound)
    hostileProblems.push(
      `a partition with lag stood still for ${monitor.maxPartitionStallMs} ms (bound ${stallBound} ms)`,
    )
  hostileProblems.push(...workers.unexpected)
  problems.push(...hostileProblems)
  await admin.disconnect()

  const count = (re: RegExp) => v.problems.filter((p) => re.test(p)).length
  const summary: VerifySummary = {
    ok: problems.length === 0,
    seed: o.seed,
    commands: cmds.length,
    inputRecords: inputs.length,
    malformed: malformed.length,
    producerDuplicates: v.producerDuplicates,
    kills,
    scaleCycles,
    rebalances,
    brokerRestarts,
    replies: v.replies,
    events: v.events,
    lost: count(/: 0 replies|on the commands topic|no snapshot/),
    duplicated: count(/replies \(.*\), expected|duplicate eventId/) - count(/: 0 replies/),
    mismatched: count(/statuses|event versions|fold\(events\)|snapshot v/),
    hangingPartitions: hanging.length,
    markerVisibleSeconds,
    deadLetterProblems: dlqProblems.length,
    storeProblems: storeProblems.length,
    indexProblems: index.problems.length,
    standbyReplicas: o.standbyReplicas ?? 0,
    snapshotStores: snapshots.stores,
    replicatedPartitions: snapshots.replicatedPartitions,
    snapshotStoreProblems: snapshots.problems.length,
    indexedEvents: index.indexedEvents,
    projectionProblems: views?.problems.length ?? 0,
    projectionViews: views?.views ?? 0,
    projectionStoresChecked: views?.storesChecked ?? 0,
    maxStallSeconds: Math.round(monitor.maxStallMs / 100) / 10,
    maxPartitionStallSeconds: Math.round(monitor.maxPartitionStallMs / 100) / 10,
    hostile: hostile.length + traffic.committed.length + traffic.aborted.length,
    hostileProblems: hostileProblems.length,
    unexpectedExits: workers.unexpected.length,
    seconds: Math.round((Date.now() - started) / 1000),
    // The rarer kinds first, so a long list of reply problems does not hide them.
    problems: [
      ...hanging,
      ...hostileProblems,
      ...dlqProblems,
      ...storeProblems.slice(0, 10),
      ...index.problems.slice(0, 10),
      ...snapshots.problems.slice(0, 10),
      ...(views?.problems.slice(0, 10) ?? []),
      ...v.problems,
    ].slice(0, 60),
  }
  if (o.summaryFile) writeFileSync(o.summaryFile, JSON.stringify(summary, null, 2) + '\n')
  if (!summary.ok) await writeFailureDump(kafka, topology, dir, workers.outputs, o)
  return summary
}

/** Waits (bounded) until the projection's changelog holds the model's views: the projection caught up. */
async function waitForViews(kafka: Kafka, p: ProjectionTopology, timeoutMs: number): Promise<void> {
  const want = sortedEntries(await expectedViews(kafka, p))
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (isDeepStrictEqual(sortedEntries(await changelogViews(kafka, p.topics.changelog)), want)) return
    await new Promise((r) => setTimeout(r, 3000))
  }
}

export type { Cmd }
