/**
 * The kstreams phase (issue 20): steady-state drains of the same preloaded backlog of bank commands, by a Kafka
 * Streams exactly_once_v2 app doing kafka-decider's bank-account work on the same wire contract (bench/kstreams/),
 * then by one kafka-decider worker, back to back, once per aggregate count. Each drain is clocked from the app's
 * first commit to its group's committed offsets of the commands topic reaching the end; besides commands/s it
 * reports CPU seconds per 1,000 commands of the app process and of the broker process (/proc), which compare
 * across runs on a busy machine better than throughput does. Every wait is bounded; every process is stopped.
 */
import path from 'node:path'
import type { Admin, Kafka, Message } from 'kafkajs'
import { encodeCommand, readTopic, type WorkerProcess } from '../scripts/eos/bank.ts'
import { ensureKstreamsApp, startKstreams, type KstreamsApp } from './kstreams/app.ts'
import { brokerPid, cpuSeconds } from './cpu.ts'
import type { KstreamsPhaseResult, SteadyDrain } from './kstreams/types.ts'
import { bankCommands, committedSum, createTopics, prepareTopology, produceAll, topicEnd } from './topics.ts'
import type { BenchOptions } from './types.ts'
import { now, sleep } from './util.ts'
import { kafka_brokers, startWorker, stopWorkers, vmRssMb } from './workers.ts'

/** Longest wait for an app's first commit (JVM start, group join, restore) and for a whole drain. */
const FIRST_COMMIT_TIMEOUT_MS = 180_000
const DRAIN_TIMEOUT_MS = 900_000

/**
 * The group's committed offsets, or `previous` when the broker cannot say yet (NOT_COORDINATOR while the offsets
 * topic of a fresh broker is being created, a coordinator load): the callers poll in bounded loops.
 */
async function committedOr(admin: Admin, group: string, topic: string, previous: number): Promise<number> {
  try {
    return await committedSum(admin, group, topic)
  } catch {
    return previous
  }
}

interface Clocked {
  commands: number
  seconds: number
  secondHalfSeconds: number
  secondHalfCommands: number
  startToFirstCommitSeconds: number
  clockedFromStart: boolean
  appCpuSeconds: number
  brokerCpuSeconds: number
}

/**
 * Waits for the group's first commit, then clocks until its committed offsets reach `end`; CPU of the app and of
 * the broker over the same window. A first commit covering half the backlog or more leaves too short a window for
 * /proc's 10 ms ticks: the window is then the process's whole life (start included; flagged clockedFromStart).
 */
async function clockDrain(
  admin: Admin,
  group: string,
  topic: string,
  end: number,
  w: WorkerProcess,
  startedAt: number,
  broker: number | undefined,
): Promise<Clocked> {
  const alive = () => {
    if (w.proc.exitCode !== null || w.proc.signalCode !== null)
      throw new Error(`${group}: the app exited during the drain:\n${w.output().slice(-4000)}`)
  }
  const appPid = w.proc.pid
  const b00 = cpuSeconds(broker)
  let c = 0
  const firstDeadline = now() + FIRST_COMMIT_TIMEOUT_MS
  while (c === 0) {
    alive()
    if (now() > firstDeadline)
      throw new Error(
        `${group}: no commit within ${FIRST_COMMIT_TIMEOUT_MS} ms of the start:\n${w.output().slice(-4000)}`,
      )
    await sleep(50)
    c = await committedOr(admin, group, topic, c)
  }
  let t0 = now()
  const startToFirstCommitSeconds = (t0 - startedAt) / 1000
  let c0 = c
  let a0 = cpuSeconds(appPid)
  let b0 = cpuSeconds(broker)
  const clockedFromStart = c0 >= end / 2
  if (clockedFromStart) {
    t0 = startedAt
    c0 = 0
    a0 = 0
    b0 = b00
  }
  const half = c0 + (end - c0) / 2
  let tHalf = NaN
  let cHalf = NaN
  const deadline = now() + DRAIN_TIMEOUT_MS
  while (c < end) {
    alive()
    if (now() > deadline)
      throw new Error(
        `${group}: committed ${c} of ${end} after ${DRAIN_TIMEOUT_MS} ms:\n${w.output().slice(-4000)}`,
      )
    await sleep(100)
    c = await committedOr(admin, group, topic, c)
    if (Number.isNaN(tHalf) && c >= half && c < end) {
      tHalf = now()
      cHalf = c
    }
  }
  const t1 = now()
  const a1 = cpuSeconds(appPid)
  const b1 = cpuSeconds(broker)
  return {
    commands: end - c0,
    seconds: (t1 - t0) / 1000,
    secondHalfSeconds: (t1 - tHalf) / 1000,
    secondHalfCommands: end - cHalf,
    startToFirstCommitSeconds,
    clockedFromStart,
    appCpuSeconds: a1 - a0,
    brokerCpuSeconds: b1 - b0,
  }
}

interface ReplyCounts {
  replies: number
  distinct: number
  statuses: Record<string, number>
}

/** The replies (read_committed): how many, how many distinct commandIds, and how many of each status. */
async function countReplies(kafka: Kafka, topic: string): Promise<ReplyCounts> {
  const recs = await readTopic(kafka, topic, { timeoutMs: 300_000 })
  const statuses: Record<string, number> = {}
  for (const r of recs) {
    const status = String((r.value as { status?: unknown } | null)?.status)
    statuses[status] = (statuses[status] ?? 0) + 1
  }
  return { replies: recs.length, distinct: new Set(recs.map((r) => r.key)).size, statuses }
}

function drainOf(
  app: SteadyDrain['app'],
  group: string,
  aggregates: number,
  backlog: number,
  k: Clocked,
  peakRssMb: number,
  counts: ReplyCounts,
): SteadyDrain {
  return {
    app,
    group,
    aggregates,
    backlog,
    commands: k.commands,
    seconds: k.seconds,
    commandsPerSec: k.commands / k.seconds,
    secondHalfCommandsPerSec: k.secondHalfCommands / k.secondHalfSeconds,
    startToFirstCommitSeconds: k.startToFirstCommitSeconds,
    clockedFromStart: k.clockedFromStart,
    appCpuSeconds: k.appCpuSeconds,
    appCpuSecondsPer1k: (k.appCpuSeconds / k.commands) * 1000,
    brokerCpuSeconds: k.brokerCpuSeconds,
    brokerCpuSecondsPer1k: (k.brokerCpuSeconds / k.commands) * 1000,
    appPeakRssMb: peakRssMb,
    replies: counts.replies,
    distinctReplies: counts.distinct,
    replyStatuses: counts.statuses,
  }
}

/**
 * Produces the backlog one chunk at a time: with several sends in flight a partition's records can land out of
 * the workload's order (a Deposit before its CreateAccount), or twice when a timed-out send is retried, and the two
 * apps would then not decide the same commands (seen in the first run: 49 replies of 600,000 had another status).
 * Not clocked.
 */
async function preload(kafka: Kafka, topic: string, messages: Message[]): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  try {
    await produceAll(producer, topic, messages, 5000, 1)
  } finally {
    await producer.disconnect()
  }
}

/**
 * The end offset after the preload must be the backlog: in the first run, without the idempotent producer, a
 * retried send wrote 7,482 commands twice into one topic (the decider answered them as duplicates), and the two
 * apps did not get the same work.
 */
function preloaded(end: number, backlog: number, topic: string): number {
  if (end !== backlog) throw new Error(`${topic}: ${end} records after preloading ${backlog} commands`)
  return end
}

async function kafkaStreamsDrain(
  kafka: Kafka,
  admin: Admin,
  app: KstreamsApp,
  dir: string,
  name: string,
  aggregates: number,
  messages: Message[],
  dedupe: number,
  all: WorkerProcess[],
  broker: number | undefined,
): Promise<SteadyDrain> {
  const topics = { commands: `${name}.commands`, events: `${name}.events`, replies: `${name}.replies` }
  await createTopics(admin, [topics.commands, topics.events, topics.replies])
  await preload(kafka, topics.commands, messages)
  const end = preloaded(await topicEnd(admin, topics.commands), messages.length, topics.commands)
  const startedAt = now()
  const p = startKstreams(app, {
    brokers: kafka_brokers(kafka),
    applicationId: name,
    ...topics,
    stateDir: path.join(dir, `${name}-state`),
    dedupe,
  })
  all.push(p)
  let clocked: Clocked
  let rss: number
  try {
    clocked = await clockDrain(admin, name, topics.commands, end, p, startedAt, broker)
    rss = vmRssMb(p.proc.pid, 'VmHWM')
  } finally {
    await stopWorkers([p])
  }
  return drainOf(
    'kafka-streams',
    name,
    aggregates,
    messages.length,
    clocked,
    rss,
    await countReplies(kafka, topics.replies),
  )
}

async function deciderDrain(
  kafka: Kafka,
  admin: Admin,
  dir: string,
  name: string,
  aggregates: number,
  messages: Message[],
  all: WorkerProcess[],
  broker: number | undefined,
): Promise<SteadyDrain> {
  const { file, topology } = await prepareTopology(admin, dir, name)
  await preload(kafka, topology.topics.commands, messages)
  const end = preloaded(
    await topicEnd(admin, topology.topics.commands),
    messages.length,
    topology.topics.commands,
  )
  const startedAt = now()
  const w = await startWorker(file, path.join(dir, `${name}-state`), kafka_brokers(kafka), all)
  let clocked: Clocked
  let rss: number
  try {
    clocked = await clockDrain(
      admin,
      topology.applicationId,
      topology.topics.commands,
      end,
      w.w,
      startedAt,
      broker,
    )
    rss = vmRssMb(w.w.proc.pid, 'VmHWM')
  } finally {
    await stopWorkers([w.w])
  }
  return drainOf(
    'kafka-decider',
    topology.applicationId,
    aggregates,
    messages.length,
    clocked,
    rss,
    await countReplies(kafka, topology.topics.replies),
  )
}

export async function kstreamsPhase(
  kafka: Kafka,
  admin: Admin,
  dir: string,
  run: string,
  o: BenchOptions,
  all: WorkerProcess[],
  startedBrokerPid: number | undefined,
): Promise<KstreamsPhaseResult> {
  const log = o.log ?? (() => undefined)
  const t = now()
  const app = await ensureKstreamsApp(log)
  const buildSeconds = app.built ? (now() - t) / 1000 : 0
  const broker = brokerPid(kafka_brokers(kafka), startedBrokerPid)
  if (broker === undefined) log('bench:    the broker pid is unknown: no broker CPU figures')
  const dedupe = o.dedupeWindow ?? 32
  const result: KstreamsPhaseResult = {
    kafkaStreamsVersion: app.kafkaVersion,
    backlog: o.steadyBacklog,
    dedupeWindow: dedupe,
    buildSeconds,
    runs: [],
  }
  for (const aggregates of o.steadyAggregates) {
    const messages = bankCommands(aggregates, o.steadyBacklog, 2).map(encodeCommand)
    const line = (d: SteadyDrain) =>
      `bench:    ${d.commandsPerSec.toFixed(0)} commands/s (2nd half ${d.secondHalfCommandsPerSec.toFixed(0)}), ` +
      `CPU s per 1,000: app ${d.appCpuSecondsPer1k.toFixed(3)}, broker ${d.brokerCpuSecondsPer1k.toFixed(3)}; ` +
      `replies ${d.distinctReplies}/${d.backlog}`
    log(
      `bench: kstreams, ${messages.length} commands over ${aggregates} aggregates: Kafka Streams ${app.kafkaVersion} exactly_once_v2`,
    )
    const ks = await kafkaStreamsDrain(
      kafka,
      admin,
      app,
      dir,
      `bench-ks${aggregates}-${run}`,
      aggregates,
      messages,
      dedupe,
      all,
      broker,
    )
    log(line(ks))
    log(`bench: kstreams, the same over ${aggregates} aggregates: kafka-decider, 1 worker`)
    const kd = await deciderDrain(
      kafka,
      admin,
      dir,
      `bench-kd${aggregates}-${run}`,
      aggregates,
      messages,
      all,
      broker,
    )
    log(line(kd))
    result.runs.push({
      aggregates,
      kafkaStreams: ks,
      decider: kd,
      ratio: kd.commandsPerSec / ks.commandsPerSec,
    })
  }
  return result
}
