/**
 * The kslatency phase (issue 20): command -> reply latency of the Kafka Streams exactly_once_v2 baseline app
 * (bench/kstreams/) and of one kafka-decider worker at the same offered rates, on the same broker, with the same load
 * generator (bench/latency.ts), one app after the other. The question it answers: what the p99 targets of the eos
 * phase's levels (<= 100 ms at 50%, <= 50 ms at 10% of the decider's drain) would be for Kafka Streams on this
 * machine, where the broker, the app and the load generator share the cores. Kafka Streams runs once per
 * commit.interval.ms given (its exactly-once default is 100 ms; lower is its documented latency knob).
 * Every wait is bounded; every process is stopped.
 */
import path from 'node:path'
import type { Admin, Kafka } from 'kafkajs'
import { encodeCommand, type WorkerProcess } from '../scripts/eos/bank.ts'
import { brokerPid, busyShare, cpuSeconds, machineTicks } from './cpu.ts'
import { ensureKstreamsApp, startKstreams } from './kstreams/app.ts'
import { drained, measureLatency, type LatencyTarget } from './latency.ts'
import { bankCommands, createTopics, prepareTopology, produceAll } from './topics.ts'
import type { KsLatencyLevel, KsLatencyResult, KsLatencyRun } from './types.ts'
import { kafka_brokers, startWorker, stopWorkers, waitReady } from './workers.ts'

export interface KsLatencyOptions {
  /** Offered rates, commands/s (each app gets every rate, in this order). */
  rates: number[]
  /** Accounts created before the levels; the levels deposit to them round-robin. */
  accounts: number
  seconds: number
  /** One Kafka Streams run per value of commit.interval.ms. */
  commitIntervalsMs: number[]
  dedupe: number
  /** Seconds of load at the first rate before the levels, not recorded (each app is fresh: the JIT of the JVM, V8's). */
  warmupSeconds: number
}

/** The accounts, created through the app itself (one CreateAccount each), before any level is clocked. */
async function createAccounts(kafka: Kafka, topic: string, accounts: number): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  try {
    await produceAll(producer, topic, bankCommands(accounts, accounts, 3).map(encodeCommand), 5000, 1)
  } finally {
    await producer.disconnect()
  }
}

/** Every rate in turn against `target`, with the app's and the broker's CPU and the machine's busy share. */
async function levels(
  kafka: Kafka,
  admin: Admin,
  target: LatencyTarget,
  o: KsLatencyOptions,
  broker: number | undefined,
  tag: string,
  log: (m: string) => void,
): Promise<KsLatencyLevel[]> {
  // The accounts' creation drained first (bounded), then a warm-up (the JIT of either runtime), not recorded.
  await drained(admin, target, 300_000)
  await measureLatency(kafka, admin, target, o.accounts, o.rates[0]!, o.warmupSeconds, `${tag}-warmup`)
  const out: KsLatencyLevel[] = []
  for (const rate of o.rates) {
    const pid = target.process.proc.pid
    // over the sending and the wait for the last reply (not the consumer's group join before it)
    let [app0, broker0, machine0] = [NaN, NaN, machineTicks()]
    let [app1, broker1, machine1] = [NaN, NaN, machineTicks()]
    const l = await measureLatency(kafka, admin, target, o.accounts, rate, o.seconds, `${tag}-${rate}`, {
      start: () => ([app0, broker0, machine0] = [cpuSeconds(pid), cpuSeconds(broker), machineTicks()]),
      end: () => ([app1, broker1, machine1] = [cpuSeconds(pid), cpuSeconds(broker), machineTicks()]),
    })
    const per1k = (s: number) => (l.replied > 0 ? (s / l.replied) * 1000 : NaN)
    out.push({
      rate,
      achievedRate: l.achievedRate,
      sent: l.sent,
      replied: l.replied,
      p50Ms: l.p50Ms,
      p95Ms: l.p95Ms,
      p99Ms: l.p99Ms,
      maxMs: l.maxMs,
      appCpuPer1k: per1k(app1 - app0),
      brokerCpuPer1k: per1k(broker1 - broker0),
      machineBusy: busyShare(machine0, machine1),
    })
    log(
      `bench:    ${rate}/s: p50 ${l.p50Ms.toFixed(1)} / p99 ${l.p99Ms.toFixed(1)} / max ${l.maxMs.toFixed(1)} ms, ${l.replied}/${l.sent} replied`,
    )
  }
  return out
}

async function kafkaStreamsRun(
  kafka: Kafka,
  admin: Admin,
  dir: string,
  name: string,
  commitIntervalMs: number,
  o: KsLatencyOptions,
  all: WorkerProcess[],
  broker: number | undefined,
  log: (m: string) => void,
): Promise<KsLatencyRun> {
  const app = await ensureKstreamsApp(log)
  const topics = { commands: `${name}.commands`, events: `${name}.events`, replies: `${name}.replies` }
  await createTopics(admin, [topics.commands, topics.events, topics.replies])
  await createAccounts(kafka, topics.commands, o.accounts)
  const p = startKstreams(app, {
    brokers: kafka_brokers(kafka),
    applicationId: name,
    ...topics,
    stateDir: path.join(dir, `${name}-state`),
    dedupe: o.dedupe,
    commitIntervalMs,
  })
  all.push(p)
  try {
    const target = { group: name, commands: topics.commands, replies: topics.replies, process: p }
    return {
      app: 'kafka-streams',
      version: app.kafkaVersion,
      commitIntervalMs,
      levels: await levels(kafka, admin, target, o, broker, name, log),
    }
  } finally {
    await stopWorkers([p])
  }
}

async function deciderRun(
  kafka: Kafka,
  admin: Admin,
  dir: string,
  name: string,
  o: KsLatencyOptions,
  all: WorkerProcess[],
  broker: number | undefined,
  log: (m: string) => void,
): Promise<KsLatencyRun> {
  const { file, topology } = await prepareTopology(admin, dir, name)
  await createAccounts(kafka, topology.topics.commands, o.accounts)
  const w = await startWorker(file, path.join(dir, `${name}-state`), kafka_brokers(kafka), all)
  try {
    await waitReady([w], 180_000)
    const target = {
      group: topology.applicationId,
      commands: topology.topics.commands,
      replies: topology.topics.replies,
      process: w.w,
    }
    return {
      app: 'kafka-decider',
      commitIntervalMs: topology.definition.processing.commitIntervalMs,
      levels: await levels(kafka, admin, target, o, broker, name, log),
    }
  } finally {
    await stopWorkers([w.w])
  }
}

export async function kstreamsLatencyPhase(
  kafka: Kafka,
  admin: Admin,
  dir: string,
  run: string,
  o: KsLatencyOptions,
  all: WorkerProcess[],
  startedBrokerPid: number | undefined,
  log: (m: string) => void,
): Promise<KsLatencyResult> {
  const broker = brokerPid(kafka_brokers(kafka), startedBrokerPid)
  const runs: KsLatencyRun[] = []
  for (const ms of o.commitIntervalsMs) {
    log(`bench: kslatency, Kafka Streams (commit.interval.ms ${ms}) at ${o.rates.join(', ')} commands/s`)
    runs.push(await kafkaStreamsRun(kafka, admin, dir, `bench-ksl${ms}-${run}`, ms, o, all, broker, log))
  }
  log(`bench: kslatency, kafka-decider 1 worker at ${o.rates.join(', ')} commands/s`)
  runs.push(await deciderRun(kafka, admin, dir, `bench-kdl-${run}`, o, all, broker, log))
  return { rates: o.rates, accounts: o.accounts, seconds: o.seconds, runs }
}
