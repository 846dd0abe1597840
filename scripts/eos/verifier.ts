/**
 * The exactly-once verifier (issue 4), in the spirit of Kafka's streams_eos_test / EosTestDriver:
 * a deterministic bank workload from a seed, several worker processes, and while it flows: SIGKILL of a
 * random worker at a random moment (restarted on the same state dir), scaling 3 -> 1 -> 3, and in 3-broker
 * mode a broker killed and restarted. Then, at quiescence, it checks reading read_committed:
 *   a. one reply per input record, with the status an independent model predicts;
 *   b. per aggregate, event versions 1..n, no duplicate eventId;
 *   c. the last changelog snapshot == fold(events) == the model; every LevelDB snapshot == fold of a prefix;
 *   d. no hanging transaction: a marker written to every output partition is visible read_committed;
 *   e. each malformed record is in the dead-letter topic exactly once.
 */
import { randomUUID } from 'node:crypto'
import { execFile } from 'node:child_process'
import { ensureKafkaJars } from '../../src/devkafka/index.ts'
import { partitionOf } from '../../src/kafka/partitioner.ts'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { Kafka, logLevel, type Admin } from 'kafkajs'
import { Packr } from 'msgpackr'
import { ensureTopics } from '../../src/kafka/topics.ts'
import { LevelSnapshotStore } from '../../src/state/level-store.ts'
import { loadTopology, type Topology } from '../../src/topology/loader.ts'
import {
  bankWorkload,
  encodeCommand,
  inputCommands,
  readTopic,
  spawnWorker,
  tempDir,
  verifyBankRun,
  waitForLog,
  writeBankTopology,
  type Cmd,
  type WorkerProcess,
} from './bank.ts'

export interface VerifyOptions {
  brokers: string[]
  seed: number
  commands: number
  accounts: number
  workers: number
  /** SIGKILLs to perform at least (more if the stream is still flowing). */
  kills: number
  /** 3 -> 1 -> 3 scale cycles to perform at least. */
  scaleCycles: number
  /** Malformed records per 10,000 commands. */
  malformedPer10k: number
  /** Send rate (commands/s); the chaos runs while sending. */
  rate: number
  /** Called to kill and restart one broker (3-broker mode); undefined = no broker restarts. */
  restartBroker?: () => Promise<void>
  brokerRestarts: number
  replicationFactor?: number
  /** Bound on waiting for quiescence after the last command was sent. */
  quiesceTimeoutMs: number
  log: (msg: string) => void
  /** Where to write the JSON summary; undefined = not written. */
  summaryFile?: string
}

export interface VerifySummary {
  ok: boolean
  seed: number
  commands: number
  inputRecords: number
  malformed: number
  producerDuplicates: number
  kills: number
  scaleCycles: number
  rebalances: number
  brokerRestarts: number
  replies: number
  events: number
  lost: number
  duplicated: number
  mismatched: number
  hangingPartitions: number
  /** Longest time a check marker took to become visible read_committed (d). */
  markerVisibleSeconds: number
  deadLetterProblems: number
  storeProblems: number
  maxStallSeconds: number
  seconds: number
  problems: string[]
}

const packr = new Packr({ useRecords: false })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Malformed {
  key: string | null
  value: Buffer | null
  headers?: Record<string, string>
  reason: string
  marker: string
}

/** Malformed records that carry a unique marker so each can be found in the dead-letter topic. */
function malformedRecord(i: number, seed: number): Malformed {
  const marker = `bad-${seed}-${i}`
  switch (i % 4) {
    case 0:
      return {
        key: marker,
        value: Buffer.concat([Buffer.from([0xc1]), Buffer.from(marker)]),
        reason: 'undecodable',
        marker,
      }
    case 1:
      return {
        key: marker,
        value: packr.pack({ commandId: marker, type: 'Teleport', payload: {} }),
        reason: 'unknown_type',
        marker,
      }
    case 2:
      return {
        key: marker,
        value: packr.pack({ commandId: marker, type: 'Deposit', payload: { amount: 'x'.repeat(10_000) } }),
        reason: 'invalid_payload',
        marker,
      }
    default:
      return {
        key: null,
        value: packr.pack({ commandId: marker, type: 'Deposit', payload: { amount: 1 } }),
        reason: 'missing_key',
        marker,
      }
  }
}

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
    o.replicationFactor ? `replicationFactor: ${o.replicationFactor}\n` : '',
  )
  const topology = await loadTopology(file)
  const admin = kafka.admin()
  await admin.connect()
  await ensureTopics(admin, topology, { create: true })

  const cmds = bankWorkload(o.seed, o.accounts, o.commands)
  const malformedCount = Math.floor((o.commands * o.malformedPer10k) / 10_000)
  const malformed = Array.from({ length: malformedCount }, (_, i) => malformedRecord(i, o.seed))

  // Workers: slot i has its own state dir; a restarted worker keeps its slot (and its LevelDB).
  const slots: (WorkerProcess | undefined)[] = []
  const start = (i: number) => {
    slots[i] = spawnWorker(file, path.join(dir, `state-${i}`), o.brokers, { DECIDER_LOG_LEVEL: 'info' })
    return slots[i]!
  }
  const outputs: string[] = []
  const stop = async (i: number, signal: NodeJS.Signals) => {
    const w = slots[i]
    if (!w) return
    w.kill(signal)
    await w.exited
    outputs.push(w.output())
    slots[i] = undefined
  }
  for (let i = 0; i < o.workers; i++) start(i)
  await Promise.all(slots.map((w) => waitForLog(w!, /task running/, 1, 120_000)))
  o.log(
    `workers up: ${o.workers}; sending ${cmds.length} commands + ${malformed.length} malformed at ~${o.rate}/s`,
  )

  // Progress monitor: the group's committed offsets; the longest time they did not move while work was pending.
  const monitor = new ProgressMonitor(admin, topology)
  monitor.start()

  // Sender: commands interleaved with malformed records, paced.
  let sent = 0
  const sending = (async () => {
    // Not idempotent: kafkajs' idempotent producer fails for good with OUT_OF_ORDER_SEQUENCE_NUMBER after a
    // leader moves (seen when a broker restarts). A failed chunk is sent again instead; a record written
    // twice is just more input, which the checks judge from the commands topic itself.
    let producer = kafka.producer({ maxInFlightRequests: 1 })
    await producer.connect()
    // kafkajs can also report a send done while it never sent the records of a partition whose leader moved
    // (src/kafka/transactional-producer.ts): partitions are set here and the response must cover each one.
    const partitions = topology.definition.partitions
    const sendChunk = async (chunkMessages: { key: string | Buffer | null; value: Buffer | null }[]) => {
      const messages = chunkMessages.map((m) => ({
        ...m,
        partition: m.key === null ? 0 : partitionOf(m.key, partitions),
      }))
      for (let attempt = 1; ; attempt++) {
        try {
          const meta = await producer.send({ topic: topology.topics.commands, messages, acks: -1 })
          const missing = [...new Set(messages.map((m) => m.partition))].filter(
            (p) => !meta.some((r) => r.partition === p),
          )
          if (missing.length > 0)
            throw new Error(`kafkajs returned no response for partitions ${missing.join(',')}`)
          return
        } catch (e) {
          if (attempt >= 30) throw e
          o.log(`sender: ${(e as Error).message}; sending the chunk again (attempt ${attempt + 1})`)
          await producer.disconnect().catch(() => undefined)
          await sleep(1000)
          producer = kafka.producer({ maxInFlightRequests: 1 })
          await producer.connect().catch(() => undefined)
        }
      }
    }
    const chunk = 500
    const every = malformed.length > 0 ? Math.max(1, Math.floor(cmds.length / malformed.length)) : Infinity
    let m = 0
    for (let i = 0; i < cmds.length; i += chunk) {
      const t0 = Date.now()
      const messages: {
        key: string | Buffer | null
        value: Buffer | null
        headers?: Record<string, string>
      }[] = cmds.slice(i, i + chunk).map(encodeCommand)
      while (m < malformed.length && m * every < i + chunk) {
        const bad = malformed[m++]!
        messages.push({ key: bad.key, value: bad.value })
      }
      await sendChunk(messages)
      sent = Math.min(i + chunk, cmds.length)
      const wait = (chunk / o.rate) * 1000 - (Date.now() - t0)
      if (wait > 0) await sleep(wait)
    }
    await producer.disconnect()
  })()
  let sendingDone = false
  void sending.then(
    () => (sendingDone = true),
    () => (sendingDone = true),
  )

  // Chaos: until sending is done and every requested fault happened.
  let kills = 0
  let scaleCycles = 0
  let brokerRestarts = 0
  const alive = () => slots.map((w, i) => (w ? i : -1)).filter((i) => i >= 0)
  const waitUntilProcessing = (w: WorkerProcess) =>
    waitForLog(w, /task running/, 1, 120_000).catch((e: unknown) =>
      o.log(`worker not running: ${(e as Error).message.slice(0, 200)}`),
    )
  while (
    !sendingDone ||
    kills < o.kills ||
    scaleCycles < o.scaleCycles ||
    brokerRestarts < (o.restartBroker ? o.brokerRestarts : 0)
  ) {
    await sleep(200 + random() * 1500)
    const r = random()
    // Broker restarts mid-stream (after a third of the commands), not while the topics are still empty.
    if (
      o.restartBroker &&
      brokerRestarts < o.brokerRestarts &&
      (sent > cmds.length / 3 || sendingDone) &&
      r < 0.3
    ) {
      o.log(`chaos: restarting a broker (sent ${sent})`)
      await o.restartBroker()
      brokerRestarts++
    } else if (scaleCycles < o.scaleCycles && r < 0.3 && o.workers > 1) {
      o.log(`chaos: scale ${o.workers} -> 1 (sent ${sent})`)
      const keep = alive()[0]!
      await Promise.all(
        alive()
          .filter((i) => i !== keep)
          .map((i) => stop(i, 'SIGTERM')),
      )
      await sleep(3000 + random() * 3000)
      o.log(`chaos: scale 1 -> ${o.workers}`)
      const restarted: WorkerProcess[] = []
      for (let i = 0; i < o.workers; i++) if (!slots[i]) restarted.push(start(i))
      await Promise.all(restarted.map((w) => waitUntilProcessing(w)))
      scaleCycles++
    } else {
      const victims = alive()
      const i = victims[Math.floor(random() * victims.length)]!
      o.log(`chaos: SIGKILL worker ${i} (sent ${sent})`)
      await stop(i, 'SIGKILL')
      // Wait until the new process runs tasks again: the next kill must land while commands are processed,
      // not while the group is still rebalancing (where a kill tests little).
      await waitUntilProcessing(start(i))
      kills++
    }
  }
  await sending
  o.log(`all sent; waiting for quiescence`)
  const inputs = await inputCommands(kafka, topology.topics.commands, cmds)
  await monitor.waitForNoLag(o.quiesceTimeoutMs)
  monitor.stop()

  // Clean stop so every LevelDB can be opened and checked.
  await Promise.all(alive().map((i) => stop(i, 'SIGTERM')))
  const rebalances = outputs.join('\n').match(/"msg":"assignment"/g)?.length ?? 0

  o.log(`verifying`)
  const v = await verifyBankRun(kafka, topology.topics, cmds)
  const problems = [...v.problems]
  const storeProblems = await verifyStores(kafka, topology, dir, o.workers)
  problems.push(...storeProblems)
  const { problems: hanging, slowestSeconds: markerVisibleSeconds } = await findHangingTransactions(
    kafka,
    admin,
    topology,
    o.brokers,
  )
  problems.push(...hanging)
  const dlqProblems = await verifyDeadLetters(kafka, topology, malformed)
  problems.push(...dlqProblems)
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
    maxStallSeconds: Math.round(monitor.maxStallMs / 100) / 10,
    seconds: Math.round((Date.now() - started) / 1000),
    // The rarer kinds first, so a long list of reply problems does not hide them.
    problems: [...hanging, ...dlqProblems, ...storeProblems.slice(0, 10), ...v.problems].slice(0, 60),
  }
  if (o.summaryFile) writeFileSync(o.summaryFile, JSON.stringify(summary, null, 2) + '\n')
  if (!summary.ok) {
    for (const t of [topology.topics.replies, topology.topics.events, topology.topics.changelog]) {
      const all = await readTopic(kafka, t, { readUncommitted: true, withControl: true })
      const lines = all.map((r) => {
        const v = r.value as {
          commandId?: string
          eventId?: string
          status?: string
          version?: number
        } | null
        return `${r.partition}\t${r.offset}\t${r.producerId}/${r.epoch}\t${r.control ?? ''}\t${r.key ?? ''}\t${v?.commandId ?? ''}\t${v?.status ?? v?.eventId ?? v?.version ?? ''}`
      })
      writeFileSync(path.join(dir, `${t}.tsv`), lines.join('\n') + '\n')
    }
    outputs.forEach((out, i) => writeFileSync(path.join(dir, `worker-${i}.log`), out))
    o.log(`worker logs: ${dir}/worker-*.log`)
  }
  return summary
}

/** Samples the group's committed offsets vs the commands topic's end; tracks the longest stall. */
class ProgressMonitor {
  maxStallMs = 0
  private timer: NodeJS.Timeout | undefined
  private lastTotal = -1n
  private lastMove = Date.now()
  private lag = -1n

  constructor(
    private readonly admin: Admin,
    private readonly t: Topology,
  ) {}

  start(): void {
    const tick = async () => {
      try {
        await this.sample()
      } catch {
        // broker restarting: the next sample will tell
      }
      this.timer = setTimeout(() => void tick(), 500)
    }
    void tick()
  }

  stop(): void {
    clearTimeout(this.timer)
  }

  private async sample(): Promise<void> {
    const [ends, committed] = await Promise.all([
      this.admin.fetchTopicOffsets(this.t.topics.commands),
      this.admin.fetchOffsets({ groupId: this.t.applicationId, topics: [this.t.topics.commands] }),
    ])
    const pos = new Map(
      committed[0]?.partitions.map((p) => [p.partition, BigInt(p.offset === '-1' ? '0' : p.offset)]) ?? [],
    )
    let total = 0n
    let lag = 0n
    for (const e of ends) {
      const c = pos.get(e.partition) ?? 0n
      total += c
      lag += BigInt(e.high) - c
    }
    const now = Date.now()
    if (total !== this.lastTotal || lag === 0n) {
      this.lastTotal = total
      this.lastMove = now
    } else {
      this.maxStallMs = Math.max(this.maxStallMs, now - this.lastMove)
    }
    this.lag = lag
  }

  async waitForNoLag(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let zeroSince: number | undefined
    while (Date.now() < deadline) {
      await sleep(500)
      if (this.lag === 0n) {
        zeroSince ??= Date.now()
        if (Date.now() - zeroSince > 2000) return
      } else zeroSince = undefined
    }
    throw new Error(`the workers did not catch up within ${timeoutMs} ms (lag ${this.lag})`)
  }
}

/** c. Every snapshot in every LevelDB equals the fold of the first `version` events of its aggregate. */
async function verifyStores(kafka: Kafka, t: Topology, dir: string, workers: number): Promise<string[]> {
  const events = await readTopic(kafka, t.topics.events)
  const balances = new Map<string, number[]>() // balance after version i+1
  for (const e of events) {
    const v = e.value as { aggregateId: string; type: string; payload: { amount?: number } }
    const list = balances.get(v.aggregateId) ?? []
    const prev = list[list.length - 1] ?? 0
    list.push(
      v.type === 'MoneyDeposited'
        ? prev + v.payload.amount!
        : v.type === 'MoneyWithdrawn'
          ? prev - v.payload.amount!
          : prev,
    )
    balances.set(v.aggregateId, list)
  }
  const problems: string[] = []
  for (let w = 0; w < workers; w++) {
    for (let p = 0; p < t.definition.partitions; p++) {
      const storeDir = path.join(dir, `state-${w}`, t.definition.name, String(p))
      let store: LevelSnapshotStore
      try {
        store = await LevelSnapshotStore.open(storeDir, {
          topology: t.definition.name,
          changelogTopic: t.topics.changelog,
          partition: p,
        })
      } catch (e) {
        problems.push(`store ${storeDir}: cannot open (${(e as Error).message})`)
        continue
      }
      for await (const s of store.entries()) {
        if (s.version === 0) continue
        const expected = balances.get(s.aggregateId)?.[s.version - 1]
        const state = s.state as { balance: number }
        if (expected === undefined || expected !== state.balance) {
          problems.push(
            `store ${storeDir}: ${s.aggregateId} v${s.version} balance ${state.balance}, fold of its first ${s.version} events gives ${expected}`,
          )
        }
      }
      await store.close()
    }
  }
  return problems
}

/**
 * d. A transaction left open would hold the last stable offset back. Write a marker to every output
 * partition (outside any transaction) and require a read_committed reader to see each one.
 */
/**
 * d. A marker per output partition must become visible read_committed. Bounded at 120 s: after a broker
 * restart a partition's last stable offset was seen to trail its high watermark for 30-40 s with no open
 * transaction (Kafka's describe-producers agreed), while a transaction left open by a dead producer is
 * aborted by the coordinator after transaction.timeout.ms (10 s here); a truly hanging one never resolves.
 */
async function findHangingTransactions(
  kafka: Kafka,
  admin: Admin,
  t: Topology,
  brokers: string[],
): Promise<{ problems: string[]; slowestSeconds: number }> {
  const topics = [t.topics.events, t.topics.changelog, t.topics.replies]
  const run = randomUUID()
  const producer = kafka.producer()
  await producer.connect()
  const expected = new Set<string>()
  for (const topic of topics) {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] })
    const partitions = meta.topics[0]!.partitions.map((p) => p.partitionId)
    await producer.send({
      topic,
      messages: partitions.map((partition) => {
        expected.add(`${topic}/${partition}`)
        return { partition, key: '\u0000verifier-marker', value: Buffer.from(`${run}:${topic}/${partition}`) }
      }),
    })
  }
  await producer.disconnect()
  const seen = new Set<string>()
  const checkStarted = Date.now()
  let slowestSeconds = 0
  // The group's offsets are set before it has a member (no seek on GROUP_JOIN: a consumer that missed a
  // marker that way once was not reproducible with a second consumer).
  const groupId = `verifier-${run}`
  for (const topic of topics) {
    const ends = await admin.fetchTopicOffsets(topic)
    await admin.setOffsets({
      groupId,
      topic,
      partitions: ends.map((e) => ({ partition: e.partition, offset: (BigInt(e.high) - 1n).toString() })),
    })
  }
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 200 })
  await consumer.connect()
  for (const topic of topics) await consumer.subscribe({ topic })
  await consumer.run({
    eachMessage: async ({ message }) => {
      const v = message.value?.toString() ?? ''
      if (v.startsWith(`${run}:`) && !seen.has(v.slice(run.length + 1))) {
        seen.add(v.slice(run.length + 1))
        slowestSeconds = Math.max(slowestSeconds, Math.round((Date.now() - checkStarted) / 100) / 10)
      }
    },
  })
  const deadline = Date.now() + 120_000
  while (seen.size < expected.size && Date.now() < deadline) await sleep(250)
  await consumer.disconnect()
  const missing = [...expected].filter((k) => !seen.has(k))
  const problems: string[] = []
  for (const k of missing) {
    // What the broker says about the partition's producers (open transactions and where they start).
    const [topic, partition] = [k.slice(0, k.lastIndexOf('/')), k.slice(k.lastIndexOf('/') + 1)]
    const described = await describeProducers(brokers[0]!, topic, partition).catch(
      (e: unknown) => `describe-producers failed: ${(e as Error).message}`,
    )
    problems.push(
      `hanging transaction: marker on ${k} not visible read_committed within 120 s; kafka-transactions describe-producers:\n${described}`,
    )
  }
  return { problems, slowestSeconds }
}

/** Kafka's own TransactionsCommand (kafka-transactions.sh describe-producers) for one partition. */
async function describeProducers(bootstrap: string, topic: string, partition: string): Promise<string> {
  const jars = await ensureKafkaJars()
  const args = [
    '-cp',
    jars.classpath,
    'org.apache.kafka.tools.TransactionsCommand',
    '--bootstrap-server',
    bootstrap,
    'describe-producers',
    '--topic',
    topic,
    '--partition',
    partition,
  ]
  return await new Promise((resolve) => {
    execFile('java', args, { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve(`${stdout}${stderr}${err ? ` (${err.message.split('\n')[0]})` : ''}`),
    )
  })
}

/** e. Each malformed record is in the dead-letter topic exactly once, with its reason. */
async function verifyDeadLetters(kafka: Kafka, t: Topology, malformed: Malformed[]): Promise<string[]> {
  const dlq = await readTopic(kafka, t.topics.deadLetters, { raw: true })
  const byValue = new Map<string, { count: number; reason: string | undefined }>()
  for (const r of dlq) {
    const k = (r.value as Buffer | null)?.toString('base64') ?? ''
    const e = byValue.get(k) ?? { count: 0, reason: r.headers['kd-error-code'] }
    e.count++
    byValue.set(k, e)
  }
  const problems: string[] = []
  for (const m of malformed) {
    const e = byValue.get(m.value?.toString('base64') ?? '')
    if (!e) problems.push(`malformed ${m.marker} (${m.reason}) not dead-lettered`)
    else if (e.count !== 1) problems.push(`malformed ${m.marker} dead-lettered ${e.count} times`)
    else if (e.reason !== m.reason)
      problems.push(`malformed ${m.marker}: reason ${e.reason}, expected ${m.reason}`)
  }
  return problems
}

export type { Cmd }
