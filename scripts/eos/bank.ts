/**
 * Exactly-once verification support (used by the integration tests and by scripts/verify-eos.ts): a deterministic bank-account workload, an independent reference model, readers
 * of the output topics (read_committed), worker processes, and the verification of ARCHITECTURE.md §5.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { EachBatchPayload, Kafka } from 'kafkajs'
import { Packr } from 'msgpackr'
import { randomUUID } from 'node:crypto'
import {
  CommittedRecordsReader,
  logRecordsOf,
  TransactionFilter,
  type LogRecord,
} from '../../src/kafka/transactions.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const packr = new Packr({ useRecords: false, mapsAsObjects: true })

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `kd-${prefix}-`))
}

/** Writes a bank-account topology with a unique name (so topics and groups are fresh) and returns its path. */
export function writeBankTopology(dir: string, name: string, extra = ''): string {
  const file = path.join(dir, `${name}.yaml`)
  writeFileSync(
    file,
    `name: ${name}\ndecider: ${path.join(ROOT, 'topologies/bank-account.ts')}\npartitions: 6\n${extra}`,
  )
  return file
}

export interface Cmd {
  aggregateId: string
  commandId: string
  type: 'CreateAccount' | 'Deposit' | 'Withdraw'
  payload: Record<string, unknown>
  expectedVersion?: number
}

/** Deterministic workload: creates, deposits, withdrawals (some overdrafts), re-sent commandIds, stale versions. */
export function bankWorkload(seed: number, accounts: number, count: number): Cmd[] {
  let s = seed >>> 0
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 2 ** 32)
  const cmds: Cmd[] = []
  for (let a = 0; a < accounts; a++)
    cmds.push({
      aggregateId: `acc-${seed}-${a}`,
      commandId: `c-${seed}-${cmds.length}`,
      type: 'CreateAccount',
      payload: { owner: `owner ${a}` },
    })
  while (cmds.length < count) {
    const a = Math.floor(rnd() * accounts)
    const r = rnd()
    const id = `c-${seed}-${cmds.length}`
    const aggregateId = `acc-${seed}-${a}`
    if (r < 0.05 && cmds.length > accounts) {
      // re-send an earlier command of the same aggregate (same commandId)
      const earlier = cmds.filter((c) => c.aggregateId === aggregateId && !c.commandId.includes('dup'))
      const e = earlier[earlier.length - 1]!
      cmds.push({ ...e })
    } else if (r < 0.08) {
      cmds.push({ aggregateId, commandId: id, type: 'Deposit', payload: { amount: 1 }, expectedVersion: 0 }) // stale
    } else if (r < 0.55) {
      cmds.push({
        aggregateId,
        commandId: id,
        type: 'Deposit',
        payload: { amount: 1 + Math.floor(rnd() * 100) },
      })
    } else {
      cmds.push({
        aggregateId,
        commandId: id,
        type: 'Withdraw',
        payload: { amount: 1 + Math.floor(rnd() * 150) },
      })
    }
  }
  return cmds
}

export interface Expected {
  /** Per input record, in send order. */
  statuses: string[]
  balances: Map<string, number>
  versions: Map<string, number>
}

/** Independent reference model of bank-account (not the decider's code). */
export function referenceModel(cmds: Cmd[]): Expected {
  const acc = new Map<
    string,
    { open: boolean; balance: number; version: number; seen: Map<string, string> }
  >()
  const statuses: string[] = []
  for (const c of cmds) {
    const a = acc.get(c.aggregateId) ?? { open: false, balance: 0, version: 0, seen: new Map() }
    acc.set(c.aggregateId, a)
    if (a.seen.has(c.commandId)) {
      statuses.push('duplicate')
      continue
    }
    if (c.expectedVersion !== undefined && c.expectedVersion !== a.version) {
      statuses.push('conflict')
      continue
    }
    let st = 'accepted'
    const amount = Number(c.payload.amount ?? 0)
    if (c.type === 'CreateAccount') {
      if (a.open) st = 'rejected'
      else {
        a.open = true
        a.version++
      }
    } else if (!a.open) st = 'rejected'
    else if (c.type === 'Deposit') {
      a.balance += amount
      a.version++
    } else if (amount > a.balance) st = 'rejected'
    else {
      a.balance -= amount
      a.version++
    }
    a.seen.set(c.commandId, st)
    statuses.push(st)
  }
  return {
    statuses,
    balances: new Map([...acc].map(([k, v]) => [k, v.balance])),
    versions: new Map([...acc].map(([k, v]) => [k, v.version])),
  }
}

export function encodeCommand(c: Cmd): { key: string; value: Buffer; headers: Record<string, string> } {
  const envelope = {
    commandId: c.commandId,
    type: c.type,
    payload: c.payload,
    ...(c.expectedVersion !== undefined ? { expectedVersion: c.expectedVersion } : {}),
  }
  return {
    key: c.aggregateId,
    value: packr.pack(envelope),
    headers: { 'content-type': 'application/msgpack' },
  }
}

export async function sendCommands(
  kafka: Kafka,
  topic: string,
  cmds: Cmd[],
  opts: { chunk?: number; pauseMs?: number } = {},
): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  try {
    const chunk = opts.chunk ?? 500
    for (let i = 0; i < cmds.length; i += chunk) {
      await producer.send({ topic, messages: cmds.slice(i, i + chunk).map(encodeCommand) })
      if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs))
    }
  } finally {
    await producer.disconnect()
  }
}

export interface Rec {
  partition: number
  offset: string
  producerId?: string
  epoch?: number
  control?: 'commit' | 'abort'
  key: string | null
  value: unknown
  headers: Record<string, string>
}

/**
 * Reads a whole topic up to its current end, bounded by timeoutMs. Committed records only (unless
 * readUncommitted), decided here from the transaction markers (src/kafka/transactions.ts): kafkajs'
 * own read_committed filter lets aborted records through when several producers write one partition.
 * Records of a transaction still open at the end are left out, as read_committed would (check (d) of the
 * verifier finds transactions that stay open).
 */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  opts: { readUncommitted?: boolean; withControl?: boolean; timeoutMs?: number; raw?: boolean } = {},
): Promise<Rec[]> {
  const admin = kafka.admin()
  await admin.connect()
  const ends = await admin.fetchTopicOffsets(topic)
  await admin.disconnect()
  const pending = new Map(
    ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high) - 1n]),
  )
  const out: Rec[] = []
  if (pending.size === 0) return out
  const filters = new Map<number, TransactionFilter>()
  const groupId = `reader-${randomUUID()}`
  const consumer = kafka.consumer({ groupId, readUncommitted: true, maxWaitTimeInMs: 100 })
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  let crash!: (e: unknown) => void
  const failed = new Promise<never>((_, rej) => (crash = rej))
  failed.catch(() => undefined)
  const decode = (partition: number, m: LogRecord): Rec => {
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(m.headers)) if (v !== undefined) headers[k] = String(v)
    const ct = headers['content-type'] ?? ''
    let value: unknown = m.value
    if (!opts.raw && m.value) {
      try {
        value = ct.includes('json') ? JSON.parse(m.value.toString()) : packr.unpack(m.value)
      } catch {
        value = m.value // not decodable (e.g. a malformed command): keep the bytes
      }
    }
    return {
      partition,
      offset: m.offset,
      key: m.key?.toString() ?? null,
      value,
      headers,
      producerId: m.producerId,
      epoch: m.producerEpoch,
      ...(m.control ? { control: m.control } : {}),
    }
  }
  const reached = (p: number, position: bigint) => {
    const target = pending.get(p)
    if (target !== undefined && position >= target) pending.delete(p)
    if (pending.size === 0) done()
  }
  // A consumer that restarts (e.g. NOT_COORDINATOR while a broker is down) re-reads from its last commit:
  // the filter ignores offsets it has seen, so a record is kept once.
  let eachBatch: (payload: EachBatchPayload) => Promise<void>
  if (opts.readUncommitted) {
    eachBatch = async ({ batch }) => {
      const p = batch.partition
      let f = filters.get(p)
      if (!f) filters.set(p, (f = new TransactionFilter()))
      const all = logRecordsOf(batch)
      for (const m of all)
        if ((m.control === undefined || opts.withControl) && BigInt(m.offset) > f.position)
          out.push(decode(p, m))
      f.push(all)
      reached(p, f.position)
    }
    // A fetch of markers only never reaches eachBatch (they are left out of the dump then).
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) =>
      reached(e.payload.partition, BigInt(e.payload.lastOffset)),
    )
  } else {
    const reader = new CommittedRecordsReader(consumer, topic, (p, records, f) => {
      for (const m of records) out.push(decode(p, m))
      reached(p, f.position)
    })
    reader.listen()
    eachBatch = reader.eachBatch
  }
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({ eachBatchAutoResolve: true, eachBatch })
  const timeout = opts.timeoutMs ?? 60_000
  let timer: NodeJS.Timeout | undefined
  consumer.on(consumer.events.CRASH, (e) => crash(e.payload.error))
  try {
    timer = setTimeout(
      () =>
        crash(
          new Error(
            `reading ${topic} did not finish in ${timeout} ms (partitions left: ${[...pending.keys()].join(',')})`,
          ),
        ),
      timeout,
    )
    await Promise.race([finished, failed])
  } finally {
    clearTimeout(timer)
    await consumer.disconnect()
  }
  out.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))
  return out
}

/** Waits until the replies topic holds at least `n` committed replies; bounded. */
export async function waitForReplies(
  kafka: Kafka,
  topic: string,
  n: number,
  timeoutMs: number,
): Promise<Rec[]> {
  const deadline = Date.now() + timeoutMs
  let replies: Rec[] = []
  while (Date.now() < deadline) {
    replies = await readTopic(kafka, topic)
    if (replies.length >= n) return replies
    await new Promise((r) => setTimeout(r, 1000))
  }
  throw new Error(`only ${replies.length} of ${n} replies after ${timeoutMs} ms`)
}

export interface Verification {
  problems: string[]
  replies: number
  events: number
  /** Command records the producer wrote more than once (its retries): judged as input like any other. */
  producerDuplicates: number
}

/**
 * The commands as they are on the commands topic (only ids of `cmds`), in offset order per partition — so
 * the model judges every input RECORD, including any the test's producer wrote twice.
 */
export async function inputCommands(kafka: Kafka, topic: string, cmds: Cmd[]): Promise<Cmd[]> {
  const ids = new Set(cmds.map((c) => c.commandId))
  const records = await readTopic(kafka, topic)
  records.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))
  const out: Cmd[] = []
  for (const r of records) {
    const v = r.value as {
      commandId: string
      type: Cmd['type']
      payload: Record<string, unknown>
      expectedVersion?: number
    }
    if (typeof v !== 'object' || v === null || Buffer.isBuffer(v) || !ids.has(v.commandId) || r.key === null)
      continue
    out.push({
      aggregateId: r.key,
      commandId: v.commandId,
      type: v.type,
      payload: v.payload,
      ...(v.expectedVersion !== undefined ? { expectedVersion: v.expectedVersion } : {}),
    })
  }
  return out
}

/**
 * The guarantees: one reply per input record with the status the model predicts (replies per commandId are
 * matched in order), contiguous event versions 1..n per aggregate with no duplicate eventId, the last
 * changelog snapshot equal to the model and to the fold of the events.
 */
export async function verifyBankRun(
  kafka: Kafka,
  topics: { commands: string; replies: string; events: string; changelog: string },
  cmds: Cmd[],
): Promise<Verification> {
  const problems: string[] = []
  const input = await inputCommands(kafka, topics.commands, cmds)
  const sentCount = new Map<string, number>()
  for (const c of cmds) sentCount.set(c.commandId, (sentCount.get(c.commandId) ?? 0) + 1)
  const inputCount = new Map<string, number>()
  for (const c of input) inputCount.set(c.commandId, (inputCount.get(c.commandId) ?? 0) + 1)
  let producerDuplicates = 0
  for (const [id, n] of sentCount) {
    const got = inputCount.get(id) ?? 0
    if (got < n) problems.push(`command ${id}: sent ${n} times but ${got} on the commands topic`)
    else producerDuplicates += got - n
  }
  const expected = referenceModel(input)
  const replies = await readTopic(kafka, topics.replies)
  const byId = new Map<string, string[]>()
  for (const r of replies) {
    const v = r.value as { commandId: string; status: string }
    const list = byId.get(v.commandId) ?? []
    list.push(v.status)
    byId.set(v.commandId, list)
  }
  const expectedById = new Map<string, string[]>()
  input.forEach((c, i) => {
    const list = expectedById.get(c.commandId) ?? []
    list.push(expected.statuses[i]!)
    expectedById.set(c.commandId, list)
  })
  for (const [id, exp] of expectedById) {
    const got = byId.get(id) ?? []
    if (got.length !== exp.length)
      problems.push(
        `command ${id}: ${got.length} replies (${got.join(',')}), expected ${exp.length} (${exp.join(',')})`,
      )
    else if (got.join(',') !== exp.join(','))
      problems.push(`command ${id}: statuses ${got.join(',')}, expected ${exp.join(',')}`)
  }
  // Replies to commands of other tests in the same topology (ids not from bankWorkload) are not ours to judge.
  for (const id of byId.keys())
    if (!expectedById.has(id) && id.startsWith('c-')) problems.push(`reply for unknown command ${id}`)

  const events = await readTopic(kafka, topics.events)
  const perAgg = new Map<string, { version: number; type: string; payload: { amount?: number } }[]>()
  const eventIds = new Set<string>()
  for (const e of events) {
    const v = e.value as {
      eventId: string
      aggregateId: string
      version: number
      type: string
      payload: { amount?: number }
    }
    if (eventIds.has(v.eventId)) problems.push(`duplicate eventId ${v.eventId}`)
    eventIds.add(v.eventId)
    const list = perAgg.get(v.aggregateId) ?? []
    list.push(v)
    perAgg.set(v.aggregateId, list)
  }
  for (const [agg, version] of expected.versions) {
    const list = perAgg.get(agg) ?? []
    const versions = list.map((e) => e.version)
    const contiguous = versions.every((v, i) => v === i + 1)
    if (!contiguous || versions.length !== version)
      problems.push(
        `aggregate ${agg}: event versions [${versions.slice(0, 20).join(',')}${versions.length > 20 ? ',…' : ''}], expected 1..${version}`,
      )
    const folded = list.reduce(
      (b, e) =>
        e.type === 'MoneyDeposited'
          ? b + e.payload.amount!
          : e.type === 'MoneyWithdrawn'
            ? b - e.payload.amount!
            : b,
      0,
    )
    if (folded !== expected.balances.get(agg))
      problems.push(`aggregate ${agg}: fold(events) balance ${folded}, model ${expected.balances.get(agg)}`)
  }

  const changelog = await readTopic(kafka, topics.changelog)
  const last = new Map<string, { version: number; state: { balance: number } }>()
  for (const r of changelog)
    if (r.key && !r.key.startsWith('\u0000'))
      last.set(r.key, r.value as { version: number; state: { balance: number } })
  for (const [agg, version] of expected.versions) {
    const s = last.get(agg)
    if (version === 0) continue
    if (!s) problems.push(`aggregate ${agg}: no snapshot in the changelog`)
    else if (s.version !== version || s.state.balance !== expected.balances.get(agg)) {
      problems.push(
        `aggregate ${agg}: snapshot v${s.version} balance ${s.state.balance}, model v${version} balance ${expected.balances.get(agg)}`,
      )
    }
  }
  return { problems, replies: replies.length, events: events.length, producerDuplicates }
}

export interface WorkerProcess {
  proc: ChildProcess
  output: () => string
  exited: Promise<number | null>
  kill(signal?: NodeJS.Signals): void
}

// Worker processes die with the process that started them, even when it ends on an error.
const children = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL')
})

/** Starts `decider run <topology>` as a child process. */
export function spawnWorker(
  topologyFile: string,
  stateDir: string,
  brokers: string[],
  env: Record<string, string> = {},
): WorkerProcess {
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin/decider.js'), 'run', topologyFile], {
    cwd: ROOT,
    env: {
      ...process.env,
      KAFKA_BROKERS: brokers.join(','),
      DECIDER_STATE_DIR: stateDir,
      DECIDER_HTTP_PORT: '0',
      DECIDER_LOG_LEVEL: 'info',
      DECIDER_SESSION_TIMEOUT_MS: '6000',
      DECIDER_SHUTDOWN_TIMEOUT_MS: '15000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(proc)
  proc.once('exit', () => children.delete(proc))
  let out = ''
  const keep = (d: Buffer) => {
    out += d.toString()
    if (out.length > 2_000_000) out = out.slice(-1_000_000)
  }
  proc.stdout!.on('data', keep)
  proc.stderr!.on('data', keep)
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
  return { proc, output: () => out, exited, kill: (signal = 'SIGTERM') => void proc.kill(signal) }
}

/** Waits (bounded) until a worker's log says all its tasks run, i.e. `n` "task running" lines since `from`. */
export async function waitForLog(
  w: WorkerProcess,
  pattern: RegExp,
  count: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if ((w.output().match(new RegExp(pattern, 'g')) ?? []).length >= count) return
    if (w.proc.exitCode !== null)
      throw new Error(`worker exited (${w.proc.exitCode}):\n${w.output().slice(-3000)}`)
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`timeout waiting for ${pattern} x${count}:\n${w.output().slice(-3000)}`)
}
