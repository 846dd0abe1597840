/**
 * `npm run bench` (issue 6): baselines, exactly-once throughput and latency, scale (restore, restart, RSS) and
 * scale-out, against one broker. `runBench(options)` is the entry function (scripts/bench.ts is the CLI, the smoke
 * test calls it with tiny parameters). Every loop and wait here is bounded; every process started is stopped.
 */
import { execFile, spawn } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { Kafka, logLevel, type Admin, type Message, type Producer } from 'kafkajs'
import { Packr } from 'msgpackr'
import { ensureKafkaJars, freePort, startKafka, type KafkaHandle } from '../src/devkafka/index.ts'
import { OFFSET_MARKER_KEY, type OffsetMarker, type SnapshotRecord } from '../src/domain/envelopes.ts'
import { ensureTopics } from '../src/kafka/topics.ts'
import { loadTopology, type Topology } from '../src/topology/loader.ts'
import {
  encodeCommand,
  spawnWorker,
  tempDir,
  writeBankTopology,
  type Cmd,
  type WorkerProcess,
} from '../scripts/eos/bank.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const packr = new Packr({ useRecords: false, mapsAsObjects: true })

export interface BenchOptions {
  /** Use these brokers; otherwise a single-node local broker is started (and stopped). */
  brokers?: string[]
  /** Commands preloaded for each throughput run (EOS, at-least-once loop, scale-out). */
  backlog: number
  /** Distinct accounts the throughput workload touches. */
  accounts: number
  /** Seconds the rate-limited latency producer sends, per load level. */
  latencySeconds: number
  /** Aggregates written to the changelog for the scale phase. */
  aggregates: number
  /** Worker process counts of the scale-out phase. */
  workers: number[]
  /** Record size of the ProducerPerformance baseline. */
  recordSize: number
  /** Records the ProducerPerformance baseline sends. */
  perfRecords: number
  /** When set, the 1-worker throughput/latency worker and the restoring worker run with `--cpu-prof` into this directory. */
  profileDir?: string
  /** dedupe.perAggregate of the bench topologies (undefined: the topology default, 32). It sizes every snapshot. */
  dedupeWindow?: number
  /** JSON result file directory (null: do not write). */
  resultsDir?: string | null
  /** SVG chart path (null/undefined: do not write). */
  chartFile?: string | null
  log?: (msg: string) => void
}

export const DEFAULT_OPTIONS: BenchOptions = {
  backlog: 60_000,
  accounts: 10_000,
  latencySeconds: 15,
  aggregates: 1_000_000,
  workers: [1, 2, 3],
  recordSize: 200,
  perfRecords: 500_000,
  resultsDir: path.join(ROOT, 'bench/results'),
}

export interface Latency {
  targetRate: number
  achievedRate: number
  sent: number
  replied: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  maxMs: number
}

export interface Throughput {
  workers: number
  /** preloaded: backlog before the workers, clock from ready; after-ready: clock from producing the backlog. */
  mode: 'preloaded' | 'after-ready'
  commands: number
  seconds: number
  commandsPerSec: number
  transactionsPerSec: number
  meanBatch: number
}

export interface BenchResult {
  startedAt: string
  durationSeconds: number
  options: Omit<BenchOptions, 'log'>
  machine: { nproc: number; cpuModel: string; memTotalMb: number; node: string; loadAvgAtStart: number[] }
  baselines: {
    producerPerformance: {
      records: number
      recordSize: number
      recordsPerSec: number
      mbPerSec: number
      line: string
    }
    kafkajsAtLeastOnce: { commands: number; seconds: number; commandsPerSec: number }
  }
  eos: {
    throughput: Throughput
    latencyFull: Latency
    latencyHalf: Latency
    /** At 10% of full load: the latency floor of the path (not a target, for context). */
    latencyLow: Latency
  }
  scale: {
    aggregates: number
    changelogFillPerSec: number
    restoreSeconds: number
    restoreSnapshotsPerSec: number
    firstReadySeconds: number
    rssMb: number
    peakRssMb: number
    readyAfterKillSeconds: number
    /** Of which: until the restarted process answered HTTP (process start, module load); the rest is the group. */
    httpUpAfterKillSeconds: number
    /** Changelog records the restarted worker replayed (0: the state dir was complete). */
    restoredAfterKill: number
    rssAfterRestartMb: number
  }
  scaleOut: Throughput[]
  targets: { name: string; value: number; target: string; met: boolean }[]
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const now = () => performance.now()

export async function runBench(partial: Partial<BenchOptions> = {}): Promise<BenchResult> {
  const o: BenchOptions = { ...DEFAULT_OPTIONS, ...partial }
  const log = o.log ?? (() => undefined)
  const started = Date.now()
  const t0 = now()
  let broker: KafkaHandle | undefined
  const jars = await ensureKafkaJars({ log })
  if (!o.brokers || o.brokers.length === 0) {
    log('bench: starting a local single-node broker')
    broker = await startKafka({ jars, heapMb: 1024 })
  }
  const brokers = o.brokers && o.brokers.length > 0 ? o.brokers : broker!.brokers
  const kafka = new Kafka({
    clientId: 'kd-bench',
    brokers,
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 100, retries: 8 },
  })
  brokersOf.set(kafka, brokers)
  const admin = kafka.admin()
  await admin.connect()
  const dir = tempDir('bench')
  const workers: WorkerProcess[] = []
  const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`
  topologyExtra = o.dedupeWindow !== undefined ? `dedupe:\n  perAggregate: ${o.dedupeWindow}\n` : ''
  try {
    const machine = machineInfo()

    // 1a. The broker's transactional produce ceiling.
    log('bench: 1a ProducerPerformance (transactional)')
    const ppTopic = `bench-pp-${run}`
    await createTopics(admin, [ppTopic])
    const pp = await producerPerformance(
      jars.classpath,
      brokers,
      ppTopic,
      o.perfRecords,
      o.recordSize,
      `bench-pp-${run}`,
    )
    log(`bench:    ${pp.recordsPerSec.toFixed(0)} records/s`)

    // 1b. The client ceiling: kafkajs at-least-once consume -> produce, no state.
    log('bench: 1b kafkajs at-least-once loop')
    const workload = bankCommands(o.accounts, o.backlog, 1)
    const alo = await atLeastOnceLoop(kafka, admin, `bench-alo-${run}`, workload)
    log(`bench:    ${alo.commandsPerSec.toFixed(0)} commands/s`)

    // 2. EOS, 1 worker: throughput from a backlog, then latency at 100% and 50% of it.
    log('bench: 2 decider EOS, 1 worker')
    const one = await eosThroughput(
      kafka,
      admin,
      dir,
      `bench-eos1-${run}`,
      1,
      workload,
      o.profileDir,
      workers,
      'preloaded',
    )
    log(
      `bench:    ${one.result.commandsPerSec.toFixed(0)} commands/s, ${one.result.transactionsPerSec.toFixed(1)} txn/s, batch ${one.result.meanBatch.toFixed(1)}`,
    )
    const full = Math.max(10, Math.round(one.result.commandsPerSec))
    log(`bench:    latency at ${full}/s`)
    const w1 = one.workers[0]!
    const latencyFull = await measureLatency(
      kafka,
      admin,
      one.topology,
      w1,
      o.accounts,
      full,
      o.latencySeconds,
      'full',
    )
    log(`bench:    latency at ${Math.round(full / 2)}/s`)
    const latencyHalf = await measureLatency(
      kafka,
      admin,
      one.topology,
      w1,
      o.accounts,
      Math.round(full / 2),
      o.latencySeconds,
      'half',
    )
    log(`bench:    latency at ${Math.round(full / 10)}/s`)
    const latencyLow = await measureLatency(
      kafka,
      admin,
      one.topology,
      w1,
      o.accounts,
      Math.max(1, Math.round(full / 10)),
      o.latencySeconds,
      'low',
    )
    await stopWorkers(one.workers)

    // 3. Scale: restore, RSS, ready after SIGKILL.
    log(`bench: 3 scale, ${o.aggregates} aggregates`)
    const scale = await scalePhase(
      kafka,
      admin,
      dir,
      `bench-scale-${run}`,
      o.aggregates,
      workers,
      log,
      o.profileDir,
    )

    // 4. Scale-out.
    const scaleOut: Throughput[] = []
    for (const n of o.workers) {
      log(`bench: 4 scale-out, ${n} worker(s), backlog produced after the group is stable`)
      const r = await eosThroughput(
        kafka,
        admin,
        dir,
        `bench-so${n}-${run}`,
        n,
        workload,
        undefined,
        workers,
        'after-ready',
      )
      await stopWorkers(r.workers)
      scaleOut.push(r.result)
      log(`bench:    ${r.result.commandsPerSec.toFixed(0)} commands/s`)
    }

    const eosRatio = one.result.commandsPerSec / alo.commandsPerSec
    const result: BenchResult = {
      startedAt: new Date(started).toISOString(),
      durationSeconds: (now() - t0) / 1000,
      options: { ...o, log: undefined } as Omit<BenchOptions, 'log'>,
      machine,
      baselines: { producerPerformance: pp, kafkajsAtLeastOnce: alo },
      eos: { throughput: one.result, latencyFull, latencyHalf, latencyLow },
      scale,
      scaleOut,
      targets: [
        {
          name: 'EOS throughput / at-least-once loop',
          value: eosRatio,
          target: '>= 0.8',
          met: eosRatio >= 0.8,
        },
        {
          name: 'p99 command->reply at 50% load (ms)',
          value: latencyHalf.p99Ms,
          target: '<= 100',
          met: latencyHalf.p99Ms <= 100,
        },
        {
          name: 'restore (snapshots/s)',
          value: scale.restoreSnapshotsPerSec,
          target: '>= 100000',
          met: scale.restoreSnapshotsPerSec >= 100_000,
        },
        {
          name: 'ready after SIGKILL (s)',
          value: scale.readyAfterKillSeconds,
          target: '<= 5',
          met: scale.readyAfterKillSeconds <= 5,
        },
        {
          name: 'worker RSS with the aggregates (MB)',
          value: scale.rssMb,
          target: '<= 256',
          met: scale.rssMb <= 256,
        },
      ],
    }
    if (o.resultsDir) {
      mkdirSync(o.resultsDir, { recursive: true })
      const file = path.join(o.resultsDir, `bench-${result.startedAt.replace(/[:.]/g, '-')}.json`)
      writeFileSync(file, JSON.stringify(result, null, 2))
      log(`bench: wrote ${file}`)
    }
    if (o.chartFile) {
      const { renderChart } = await import('./chart.ts')
      writeFileSync(o.chartFile, renderChart(result))
      log(`bench: wrote ${o.chartFile}`)
    }
    return result
  } finally {
    await stopWorkers(workers)
    await admin.disconnect().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
    if (broker) await broker.stop()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Workload and topics

/** Fast deterministic bank workload: every account is created, then deposits (70%) and withdrawals (30%). */
export function bankCommands(accounts: number, count: number, seed: number): Cmd[] {
  let s = seed >>> 0
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 2 ** 32)
  const cmds: Cmd[] = []
  const n = Math.min(accounts, count)
  for (let a = 0; a < n; a++)
    cmds.push({
      aggregateId: `acc-${a}`,
      commandId: `b-${seed}-${cmds.length}`,
      type: 'CreateAccount',
      payload: { owner: `owner ${a}` },
    })
  while (cmds.length < count) {
    const a = Math.floor(rnd() * n)
    const type = rnd() < 0.7 ? 'Deposit' : 'Withdraw'
    cmds.push({
      aggregateId: `acc-${a}`,
      commandId: `b-${seed}-${cmds.length}`,
      type,
      payload: { amount: 1 + Math.floor(rnd() * 100) },
    })
  }
  return cmds
}

async function createTopics(admin: Admin, topics: string[], partitions = 6): Promise<void> {
  await admin.createTopics({
    waitForLeaders: false,
    topics: topics.map((topic) => ({ topic, numPartitions: partitions })),
  })
  for (let i = 0; i < 150; i++) {
    try {
      const meta = await admin.fetchTopicMetadata({ topics })
      if (
        meta.topics.length === topics.length &&
        meta.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))
      )
        return
    } catch {
      // not there yet
    }
    await sleep(200)
  }
  throw new Error(`topics ${topics.join(', ')} have no leaders after 30 s`)
}

/** Sends messages in chunks with a few requests in flight (bounded by the number of chunks). */
async function produceAll(
  producer: Producer,
  topic: string,
  messages: Message[],
  chunk = 5000,
  inFlight = 4,
): Promise<void> {
  const pending = new Set<Promise<unknown>>()
  for (let i = 0; i < messages.length; i += chunk) {
    const p = producer
      .send({ topic, messages: messages.slice(i, i + chunk) })
      .finally(() => pending.delete(p))
    pending.add(p)
    if (pending.size >= inFlight) await Promise.race(pending)
  }
  await Promise.all(pending)
}

async function topicEnd(admin: Admin, topic: string): Promise<number> {
  const offs = await admin.fetchTopicOffsets(topic)
  return offs.reduce((a, p) => a + Number(p.high), 0)
}

async function committedSum(admin: Admin, groupId: string, topic: string): Promise<number> {
  const res = await admin.fetchOffsets({ groupId, topics: [topic] })
  return (res[0]?.partitions ?? []).reduce((a, p) => a + Math.max(0, Number(p.offset)), 0)
}

// ---------------------------------------------------------------------------------------------------------------
// 1a. ProducerPerformance

async function producerPerformance(
  classpath: string,
  brokers: string[],
  topic: string,
  records: number,
  recordSize: number,
  txId: string,
) {
  const args = [
    '-Xmx512m',
    '-cp',
    classpath,
    'org.apache.kafka.tools.ProducerPerformance',
    '--topic',
    topic,
    '--num-records',
    String(records),
    '--record-size',
    String(recordSize),
    '--throughput',
    '-1',
    '--producer-props',
    `bootstrap.servers=${brokers.join(',')}`,
    '--transactional-id',
    txId,
    '--transaction-duration-ms',
    '100',
  ]
  const out = await new Promise<string>((resolve, reject) => {
    execFile('java', args, { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ProducerPerformance failed: ${err.message}\n${stderr.slice(-2000)}`))
      else resolve(stdout)
    })
  })
  const lines = out.split('\n').filter((l) => /records\/sec/.test(l))
  const line = lines[lines.length - 1] ?? ''
  const m = /(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\)/.exec(line)
  if (!m) throw new Error(`ProducerPerformance: no final "records/sec" line in:\n${out.slice(-2000)}`)
  return {
    records: Number(m[1]),
    recordSize,
    recordsPerSec: Number(m[2]),
    mbPerSec: Number(m[3]),
    line: line.trim(),
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 1b. kafkajs at-least-once loop

async function atLeastOnceLoop(kafka: Kafka, admin: Admin, name: string, workload: Cmd[]) {
  const input = `${name}.in`
  const output = `${name}.out`
  await createTopics(admin, [input, output])
  const preload = kafka.producer()
  await preload.connect()
  await produceAll(preload, input, workload.map(encodeCommand))
  await preload.disconnect()
  const total = await topicEnd(admin, input)

  const producer = kafka.producer()
  await producer.connect()
  const consumer = kafka.consumer({ groupId: name, maxWaitTimeInMs: 100, maxBytesPerPartition: 1_048_576 })
  let joinedAt = 0
  let finishedAt = 0
  let processed = 0
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  consumer.on(consumer.events.GROUP_JOIN, () => {
    if (joinedAt === 0) joinedAt = now()
  })
  await consumer.connect()
  await consumer.subscribe({ topic: input, fromBeginning: true })
  await consumer.run({
    partitionsConsumedConcurrently: 6,
    eachBatchAutoResolve: true,
    eachBatch: async ({ batch }) => {
      // One output record per input record (same key and value), then the offsets (committed after the batch).
      const messages = batch.messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers }))
      await producer.send({ topic: output, messages })
      processed += messages.length
      if (processed >= total && finishedAt === 0) {
        finishedAt = now()
        done()
      }
    },
  })
  try {
    await withTimeout(finished, 600_000, 'at-least-once loop')
  } finally {
    await consumer.disconnect().catch(() => undefined)
    await producer.disconnect().catch(() => undefined)
  }
  const seconds = (finishedAt - joinedAt) / 1000
  return { commands: total, seconds, commandsPerSec: total / seconds }
}

// ---------------------------------------------------------------------------------------------------------------
// Workers

async function httpGet(port: number, p: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${p}`, { signal: AbortSignal.timeout(2000) })
    return { status: res.status, body: await res.text() }
  } catch {
    return undefined
  }
}

interface RunningWorker {
  w: WorkerProcess
  port: number
}

async function startWorker(
  topologyFile: string,
  stateDir: string,
  brokers: string[],
  all: WorkerProcess[],
  profileDir?: string,
): Promise<RunningWorker> {
  const port = await freePort()
  const env = { DECIDER_HTTP_PORT: String(port), DECIDER_LOG_LEVEL: 'warn' }
  const w = profileDir
    ? spawnProfiledWorker(topologyFile, stateDir, brokers, env, profileDir)
    : spawnWorker(topologyFile, stateDir, brokers, env)
  all.push(w)
  return { w, port }
}

/** Like spawnWorker, with `node --cpu-prof` (not allowed in NODE_OPTIONS); the profile is written when it exits. */
function spawnProfiledWorker(
  topologyFile: string,
  stateDir: string,
  brokers: string[],
  env: Record<string, string>,
  profileDir: string,
): WorkerProcess {
  const proc = spawn(
    process.execPath,
    ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, path.join(ROOT, 'bin/decider.js'), 'run', topologyFile],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        KAFKA_BROKERS: brokers.join(','),
        DECIDER_STATE_DIR: stateDir,
        DECIDER_SESSION_TIMEOUT_MS: '6000',
        DECIDER_SHUTDOWN_TIMEOUT_MS: '15000',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let out = ''
  const keep = (d: Buffer) => {
    out += d.toString()
    if (out.length > 2_000_000) out = out.slice(-1_000_000)
  }
  proc.stdout.on('data', keep)
  proc.stderr.on('data', keep)
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
  return { proc, output: () => out, exited, kill: (signal = 'SIGTERM') => void proc.kill(signal) }
}

/** Polls until every worker's /readyz answers 200 at the same time (bounded); returns performance.now() then. */
async function waitReady(ws: RunningWorker[], timeoutMs: number, onHttp?: () => void): Promise<number> {
  const deadline = now() + timeoutMs
  let httpSeen = false
  while (now() < deadline) {
    for (const { w } of ws)
      if (w.proc.exitCode !== null)
        throw new Error(`worker exited (${w.proc.exitCode}):\n${w.output().slice(-3000)}`)
    const rs = await Promise.all(ws.map((w) => httpGet(w.port, '/readyz')))
    if (!httpSeen && rs.every((r) => r !== undefined)) {
      httpSeen = true
      onHttp?.()
    }
    if (rs.every((r) => r?.status === 200)) return now()
    await sleep(50)
  }
  throw new Error(
    `workers not ready after ${timeoutMs} ms:\n${ws.map((w) => w.w.output().slice(-2000)).join('\n---\n')}`,
  )
}

async function stopWorkers(ws: WorkerProcess[]): Promise<void> {
  await Promise.all(
    ws.map(async (w) => {
      if (w.proc.exitCode !== null || w.proc.signalCode !== null) return
      w.kill('SIGTERM')
      const ok = await Promise.race([w.exited.then(() => true), sleep(30_000).then(() => false)])
      if (!ok) {
        w.kill('SIGKILL')
        await Promise.race([w.exited, sleep(10_000)])
      }
    }),
  )
}

/** Sum of a Prometheus metric's samples (optionally only lines containing `filter`). */
export function metricSum(text: string, name: string, filter = ''): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const rest = line.slice(name.length)
    if (rest[0] !== '{' && rest[0] !== ' ') continue
    if (filter && !line.includes(filter)) continue
    const v = Number(line.slice(line.lastIndexOf(' ') + 1))
    if (Number.isFinite(v)) sum += v
  }
  return sum
}

async function scrape(ws: RunningWorker[]): Promise<{ txns: number; batchSum: number; batchCount: number }> {
  const texts = await Promise.all(ws.map(async (w) => (await httpGet(w.port, '/metrics'))?.body ?? ''))
  const r = { txns: 0, batchSum: 0, batchCount: 0 }
  for (const t of texts) {
    r.txns += metricSum(t, 'decider_transactions_total', 'result="committed"')
    r.batchSum += metricSum(t, 'decider_batch_commands_sum')
    r.batchCount += metricSum(t, 'decider_batch_commands_count')
  }
  return r
}

// ---------------------------------------------------------------------------------------------------------------
// 2. / 4. EOS throughput

let topologyExtra = ''

async function prepareTopology(
  admin: Admin,
  dir: string,
  name: string,
): Promise<{ file: string; topology: Topology }> {
  const file = writeBankTopology(dir, name, topologyExtra)
  const topology = await loadTopology(file)
  await ensureTopics(admin, topology, { create: true })
  return { file, topology }
}

async function eosThroughput(
  kafka: Kafka,
  admin: Admin,
  dir: string,
  name: string,
  n: number,
  workload: Cmd[],
  profileDir: string | undefined,
  all: WorkerProcess[],
  mode: 'preloaded' | 'after-ready',
): Promise<{ result: Throughput; workers: WorkerProcess[]; topology: Topology }> {
  const { file, topology } = await prepareTopology(admin, dir, name)
  const preload = async () => {
    const producer = kafka.producer()
    await producer.connect()
    await produceAll(producer, topology.topics.commands, workload.map(encodeCommand))
    await producer.disconnect()
  }
  // mode 'preloaded' (the definition): backlog first, clock from worker ready. With several workers the
  // group rebalances while the first one already works, so 'after-ready': workers first (group stable), then the
  // backlog is produced and the clock starts when the producing starts.
  if (mode === 'preloaded') await preload()
  const ws: RunningWorker[] = []
  for (let i = 0; i < n; i++)
    ws.push(
      await startWorker(file, path.join(dir, `${name}-state-${i}`), kafka_brokers(kafka), all, profileDir),
    )
  let t0 = await waitReady(ws, 180_000)
  let c0 = await committedSum(admin, name, topology.topics.commands)
  const m0 = await scrape(ws)
  if (mode === 'after-ready') {
    t0 = now()
    await preload()
  }
  const end = await topicEnd(admin, topology.topics.commands)
  if (mode === 'after-ready') c0 = 0
  let c = c0
  const deadline = now() + 900_000
  while (c < end && now() < deadline) {
    await sleep(100)
    c = await committedSum(admin, name, topology.topics.commands)
  }
  const t1 = now()
  if (c < end) throw new Error(`${name}: committed ${c} of ${end} after 900 s`)
  const m1 = await scrape(ws)
  const seconds = (t1 - t0) / 1000
  const commands = end - c0
  const batchCount = m1.batchCount - m0.batchCount
  return {
    result: {
      workers: n,
      mode,
      commands,
      seconds,
      commandsPerSec: commands / seconds,
      transactionsPerSec: (m1.txns - m0.txns) / seconds,
      meanBatch: batchCount > 0 ? (m1.batchSum - m0.batchSum) / batchCount : 0,
    },
    workers: ws.map((w) => w.w),
    topology,
  }
}

// kafkajs does not expose its broker list; the bench keeps it here for the workers it spawns.
const brokersOf = new WeakMap<Kafka, string[]>()
function kafka_brokers(kafka: Kafka): string[] {
  const b = brokersOf.get(kafka)
  if (!b) throw new Error('bench: unknown client')
  return b
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Latency: a rate-limited producer and a read_committed reply consumer matching commandIds.

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!
}

/** Waits (bounded) until the group's committed offsets reach the end of the commands topic: the worker is idle. */
async function drained(
  admin: Admin,
  topology: Topology,
  worker: WorkerProcess,
  timeoutMs: number,
): Promise<void> {
  const deadline = now() + timeoutMs
  let c = 0
  let end = 0
  while (now() < deadline) {
    c = await committedSum(admin, topology.definition.name, topology.topics.commands)
    end = await topicEnd(admin, topology.topics.commands)
    if (c >= end) return
    await sleep(200)
  }
  const offsets = await admin.fetchOffsets({
    groupId: topology.definition.name,
    topics: [topology.topics.commands],
  })
  const ends = await admin.fetchTopicOffsets(topology.topics.commands)
  throw new Error(
    `${topology.definition.name}: the worker did not catch up within ${timeoutMs} ms (committed ${c} of ${end}; ` +
      `committed ${JSON.stringify(offsets[0]?.partitions.map((p) => [p.partition, p.offset]))}, ends ${JSON.stringify(ends.map((e) => [e.partition, e.high]))}); worker log:\n${worker.output().slice(-6000)}`,
  )
}

async function measureLatency(
  kafka: Kafka,
  admin: Admin,
  topology: Topology,
  worker: WorkerProcess,
  accounts: number,
  rate: number,
  seconds: number,
  tag: string,
): Promise<Latency> {
  const alive = () => {
    if (worker.proc.exitCode !== null || worker.proc.signalCode !== null)
      throw new Error(`worker exited during the latency run:\n${worker.output().slice(-3000)}`)
  }
  // Each load level starts with an idle worker (the previous level's queue drained).
  await drained(admin, topology, worker, 300_000)
  alive()
  const sentAt = new Map<string, number>()
  const latencies: number[] = []
  const consumer = kafka.consumer({
    groupId: `bench-replies-${tag}-${randomBytes(4).toString('hex')}`,
    maxWaitTimeInMs: 20,
    readUncommitted: false,
  })
  let fetched!: () => void
  const firstFetch = new Promise<void>((r) => (fetched = r))
  consumer.on(consumer.events.FETCH, () => fetched())
  await consumer.connect()
  await consumer.subscribe({ topic: topology.topics.replies, fromBeginning: false })
  await consumer.run({
    partitionsConsumedConcurrently: 6,
    eachBatch: async ({ batch }) => {
      const t = now()
      for (const m of batch.messages) {
        const id = m.key?.toString()
        if (id === undefined) continue
        const s = sentAt.get(id)
        if (s !== undefined) {
          latencies.push(t - s)
          sentAt.delete(id)
        }
      }
    },
  })
  const producer = kafka.producer()
  try {
    // After its first fetch the consumer's positions are the end offsets: no reply of ours can come before them.
    await withTimeout(firstFetch, 60_000, 'reply consumer first fetch')
    await sleep(200)
    await producer.connect()
    const pending = new Set<Promise<unknown>>()
    const started = now()
    const endAt = started + seconds * 1000
    let sent = 0
    let n = 0
    while (now() < endAt) {
      const due = Math.floor((rate * (now() - started)) / 1000) - sent
      if (due > 0 && pending.size < 64) {
        const messages: Message[] = []
        const t = now()
        for (let i = 0; i < due; i++) {
          const id = `lat-${tag}-${n++}`
          const cmd: Cmd = {
            aggregateId: `acc-${n % accounts}`,
            commandId: id,
            type: 'Deposit',
            payload: { amount: 1 },
          }
          messages.push(encodeCommand(cmd))
          sentAt.set(id, t)
        }
        sent += due
        const p = producer
          .send({ topic: topology.topics.commands, messages })
          .finally(() => pending.delete(p))
        pending.add(p)
      }
      await sleep(2)
    }
    const achievedRate = sent / ((now() - started) / 1000)
    await Promise.all(pending)
    // Bounded: until every reply is in, or no reply came for 20 s, or 300 s in all.
    const deadline = now() + 300_000
    let last = latencies.length
    let lastProgress = now()
    while (sentAt.size > 0 && now() < deadline && now() - lastProgress < 20_000) {
      await sleep(100)
      alive()
      if (latencies.length !== last) {
        last = latencies.length
        lastProgress = now()
      }
    }
    const sorted = [...latencies].sort((a, b) => a - b)
    return {
      targetRate: rate,
      achievedRate,
      sent,
      replied: latencies.length,
      p50Ms: percentile(sorted, 0.5),
      p95Ms: percentile(sorted, 0.95),
      p99Ms: percentile(sorted, 0.99),
      maxMs: sorted[sorted.length - 1] ?? NaN,
    }
  } finally {
    await producer.disconnect().catch(() => undefined)
    await consumer.disconnect().catch(() => undefined)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Scale

function vmRssMb(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number {
  if (pid === undefined) return NaN
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : NaN
  } catch {
    return NaN
  }
}

async function scalePhase(
  kafka: Kafka,
  admin: Admin,
  dir: string,
  name: string,
  aggregates: number,
  all: WorkerProcess[],
  log: (m: string) => void,
  profileDir?: string,
) {
  const { file, topology } = await prepareTopology(admin, dir, name)
  const partitions = topology.definition.partitions
  const producer = kafka.producer()
  await producer.connect()
  const headers = { 'content-type': 'application/msgpack' }
  const fillStart = now()
  const chunk = 10_000
  const pending = new Set<Promise<unknown>>()
  for (let i = 0; i < aggregates; i += chunk) {
    const messages: Message[] = []
    for (let j = i; j < Math.min(aggregates, i + chunk); j++) {
      const aggregateId = `agg-${j}`
      const snapshot: SnapshotRecord = {
        aggregateId,
        version: 1,
        state: { status: 'open', owner: `owner ${j}`, balance: 0 },
        recent: [
          { commandId: `create-${j}`, status: 'accepted', version: 1, events: [['AccountCreated', 1]] },
        ],
        sourceOffset: '0',
      }
      messages.push({ key: aggregateId, value: packr.pack(snapshot), headers, partition: j % partitions })
    }
    const p = producer.send({ topic: topology.topics.changelog, messages }).finally(() => pending.delete(p))
    pending.add(p)
    if (pending.size >= 4) await Promise.race(pending)
  }
  await Promise.all(pending)
  const marker: OffsetMarker = { marker: 'input-offset', inputOffset: '-1' }
  await producer.send({
    topic: topology.topics.changelog,
    messages: Array.from({ length: partitions }, (_, p) => ({
      key: OFFSET_MARKER_KEY,
      value: packr.pack(marker),
      headers,
      partition: p,
    })),
  })
  await producer.disconnect()
  const changelogFillPerSec = aggregates / ((now() - fillStart) / 1000)
  log(`bench:    changelog filled at ${changelogFillPerSec.toFixed(0)} records/s`)

  const stateDir = path.join(dir, `${name}-state`)
  const first = await startWorker(file, stateDir, kafka_brokers(kafka), all, profileDir)
  const spawned = now()
  let httpAt = 0
  const readyAt = await waitReady([first], 900_000, () => (httpAt = now()))
  const restoreSeconds = (readyAt - httpAt) / 1000
  const rssMb = vmRssMb(first.w.proc.pid, 'VmRSS')
  const peakRssMb = vmRssMb(first.w.proc.pid, 'VmHWM')
  log(
    `bench:    restored in ${restoreSeconds.toFixed(1)} s, RSS ${rssMb.toFixed(0)} MB (peak ${peakRssMb.toFixed(0)} MB)`,
  )

  // SIGKILL (a profiled worker gets SIGTERM instead, or it would write no profile; the restart figure is then a clean one).
  first.w.kill(profileDir ? 'SIGTERM' : 'SIGKILL')
  await withTimeout(first.w.exited, 30_000, 'worker exit')
  const second = await startWorker(file, stateDir, kafka_brokers(kafka), all)
  const respawned = now()
  let httpAgain = 0
  const readyAgain = await waitReady([second], 300_000, () => (httpAgain = now()))
  const rssAfterRestartMb = vmRssMb(second.w.proc.pid, 'VmRSS')
  const restoredAfterKill = metricSum(
    (await httpGet(second.port, '/metrics'))?.body ?? '',
    'decider_restore_records_total',
  )
  await stopWorkers([second.w])
  return {
    aggregates,
    changelogFillPerSec,
    restoreSeconds,
    restoreSnapshotsPerSec: aggregates / restoreSeconds,
    firstReadySeconds: (readyAt - spawned) / 1000,
    rssMb,
    peakRssMb,
    readyAfterKillSeconds: (readyAgain - respawned) / 1000,
    httpUpAfterKillSeconds: (httpAgain - respawned) / 1000,
    restoredAfterKill,
    rssAfterRestartMb,
  }
}

// ---------------------------------------------------------------------------------------------------------------

function machineInfo(): BenchResult['machine'] {
  let cpuModel = 'unknown'
  let memTotalMb = NaN
  try {
    cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpuModel
    memTotalMb = Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]) / 1024
  } catch {
    // not Linux
  }
  return { nproc: navigatorCores(), cpuModel, memTotalMb, node: process.version, loadAvgAtStart: loadAvg() }
}

function navigatorCores(): number {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('processor')).length
  } catch {
    return NaN
  }
}

function loadAvg(): number[] {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number)
  } catch {
    return []
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>(
        (_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: no result within ${ms} ms`)), ms)),
      ),
    ])
  } finally {
    clearTimeout(timer)
  }
}
