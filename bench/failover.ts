/**
 * 5. Failover: two workers of one bank-account topology (6 partitions) on a changelog seeded with N aggregates, a
 * fixed command rate, then SIGKILL of one worker (B). The consumer group (describeGroups every 100 ms) tells when it
 * noticed (first state other than Stable) and when it is Stable again with only the survivor (A). The partitions B
 * owned ("moved") answer again when the first command sent after the kill to each gets its reply; the partitions
 * that stayed with A should barely notice. Workers run with a 10 s session timeout.
 */
import { rmSync } from 'node:fs'
import path from 'node:path'
import { AssignerProtocol, type Admin, type Kafka } from 'kafkajs'
import { loadTopology } from '../src/topology/loader.ts'
import { tempDir, writeBankTopology, type WorkerProcess } from '../scripts/eos/bank.ts'
import { FixedRateLoad } from './failover-load.ts'
import { fillChangelog } from './fill.ts'
import { prepareTopology } from './topics.ts'
import type { FailoverResult } from './types.ts'
import { now, sleep } from './util.ts'
import {
  httpGet,
  kafka_brokers,
  metricSum,
  startWorker,
  stopWorkers,
  vmRssMb,
  waitReady,
  type RunningWorker,
} from './workers.ts'

export const FAILOVER_SESSION_TIMEOUT_MS = 10_000
/**
 * The "before" latency window: this long, ending BEFORE_GAP_MS before the kill. Commands sent right before the kill
 * to the killed worker's partitions are answered only after the failover (0.7% to 8.6% of the last 10 s in the runs of
 * docs/BENCHMARKS.md): they belong to the failover, not to the steady state the window is the baseline of.
 */
const BEFORE_MS = 10_000
const BEFORE_GAP_MS = 2_000
/** After all moved partitions answer, the load (and the non-moved window) goes on this long. */
const AFTER_MS = 2_000

const standbyYaml = (standbys: number) =>
  standbys > 0 ? `processing:\n  standbyReplicas: ${standbys}\n` : ''

/** Fails at once (not after the earlier phases) when this build's topology schema rejects a standby setting. */
export async function checkStandbys(standbys: number[]): Promise<void> {
  const dir = tempDir('bench-standbys')
  try {
    for (const n of standbys) {
      if (!Number.isInteger(n) || n < 0) throw new Error(`failover standbys: not a count: ${n}`)
      if (n === 0) continue
      const file = writeBankTopology(dir, `bench-standby-check-${n}`, standbyYaml(n))
      try {
        await loadTopology(file)
      } catch (e) {
        throw new Error(
          `failover with processing.standbyReplicas ${n}: this build's topology does not accept it (${(e as Error).message.replace(/\n\s*/g, '; ')}); run with --failover-standbys 0`,
        )
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

interface GroupView {
  state: string
  members: { clientId: string; partitions: number[] }[]
}

async function describe(admin: Admin, groupId: string, topic: string): Promise<GroupView> {
  const { groups } = await admin.describeGroups([groupId])
  const g = groups[0]
  return {
    state: g?.state ?? 'Unknown',
    members: (g?.members ?? []).map((m) => ({
      clientId: m.clientId,
      partitions:
        m.memberAssignment.length > 0
          ? (AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? [])
          : [],
    })),
  }
}

/** Polls (every 100 ms, bounded) until `done` holds for the group; `seen` gets every view with its time. */
async function pollGroup(
  admin: Admin,
  groupId: string,
  topic: string,
  timeoutMs: number,
  done: (v: GroupView) => boolean,
  seen: (v: GroupView, t: number) => void = () => undefined,
  alive: () => void = () => undefined,
): Promise<{ view: GroupView; t: number }> {
  const deadline = now() + timeoutMs
  let last: GroupView | undefined
  while (now() < deadline) {
    const asked = now()
    try {
      last = await describe(admin, groupId, topic)
      const t = now()
      seen(last, t)
      if (done(last)) return { view: last, t }
    } catch {
      // the coordinator may be busy or moving: ask again
    }
    alive()
    await sleep(Math.max(0, 100 - (now() - asked)))
  }
  throw new Error(`group ${groupId}: not as expected within ${timeoutMs} ms (last: ${JSON.stringify(last)})`)
}

export interface FailoverOptions {
  aggregates: number
  rate: number
  standbys: number
  warmupSeconds: number
}

export async function failoverRun(
  kafka: Kafka,
  admin: Admin,
  dir: string,
  name: string,
  o: FailoverOptions,
  all: WorkerProcess[],
  log: (m: string) => void,
): Promise<FailoverResult> {
  const { file, topology } = await prepareTopology(admin, dir, name, standbyYaml(o.standbys))
  const groupId = topology.applicationId
  const topic = topology.topics.commands
  const changelogFillPerSec = await fillChangelog(kafka, topology, o.aggregates)
  log(`bench:    changelog filled at ${changelogFillPerSec.toFixed(0)} records/s`)

  const start = (id: 'a' | 'b') =>
    startWorker(file, path.join(dir, `${name}-state-${id}`), kafka_brokers(kafka), all, undefined, {
      KAFKA_CLIENT_ID: `kd-fo-${id}`,
      DECIDER_SESSION_TIMEOUT_MS: String(FAILOVER_SESSION_TIMEOUT_MS),
    })
  const ws: RunningWorker[] = []
  const load = new FixedRateLoad(kafka, topology, o.aggregates, o.rate)
  try {
    const started = now()
    // B first, alone (it restores all partitions), then A: the sticky assigner leaves B half of them and gives A the
    // rest, so A never held B's partitions. Without standbys A's takeover is then a full restore of them (no store
    // left on A's disk from an earlier assignment), with standbys it starts from A's copies.
    const b = await start('b')
    ws.push(b)
    await waitReady([b], 900_000)
    const a = await start('a')
    ws.push(a)
    const isA = (m: { clientId: string }) => m.clientId.startsWith('kd-fo-a-')
    const isB = (m: { clientId: string }) => m.clientId.startsWith('kd-fo-b-')
    await waitReady([a, b], 900_000)
    await pollGroup(
      admin,
      groupId,
      topic,
      120_000,
      (v) =>
        v.state === 'Stable' && v.members.length === 2 && v.members.every((m) => m.partitions.length > 0),
    )
    const bothReadySeconds = (now() - started) / 1000
    log(`bench:    both workers ready after ${bothReadySeconds.toFixed(1)} s; load ${o.rate}/s`)
    const survivorAlive = () => {
      if (a.w.proc.exitCode !== null || a.w.proc.signalCode !== null)
        throw new Error(`the surviving worker exited:\n${a.w.output().slice(-3000)}`)
    }
    const bothAlive = () => {
      survivorAlive()
      if (b.w.proc.exitCode !== null || b.w.proc.signalCode !== null)
        throw new Error(`worker B exited before the kill:\n${b.w.output().slice(-3000)}`)
    }

    await load.start()
    const warmEnd = now() + o.warmupSeconds * 1000
    while (now() < warmEnd) {
      await sleep(Math.min(250, Math.max(0, warmEnd - now())))
      bothAlive()
    }
    const { view } = await pollGroup(admin, groupId, topic, 30_000, (v) => v.state === 'Stable')
    const owner = view.members.find(isB)
    if (!owner || view.members.length !== 2)
      throw new Error(`before the kill: worker B is not one of 2 members: ${JSON.stringify(view)}`)
    const moved = [...owner.partitions].sort((x, y) => x - y)

    const restoredBefore = metricSum(
      (await httpGet(a.port, '/metrics'))?.body ?? '',
      'decider_restore_records_total',
    )
    b.w.kill('SIGKILL')
    const tKill = now()
    log(`bench:    SIGKILL worker B (partitions ${moved.join(',')})`)
    let tNotStable = NaN
    const stable = await pollGroup(
      admin,
      groupId,
      topic,
      180_000,
      (v) => v.state === 'Stable' && v.members.length === 1 && isA(v.members[0]!),
      (v, t) => {
        if (v.state !== 'Stable' && Number.isNaN(tNotStable)) tNotStable = t
      },
      survivorAlive,
    )
    const tStable = stable.t
    // A rebalance shorter than one poll (100 ms) is never seen "not Stable": it counts as 0 ms, from Stable.
    if (Number.isNaN(tNotStable)) tNotStable = tStable
    log(`bench:    group Stable with the survivor ${((tStable - tKill) / 1000).toFixed(1)} s after the kill`)

    // Until every moved partition answered a command sent after the kill (bounded), then AFTER_MS more load.
    const firstAnswer = new Map<number, number>()
    const answerDeadline = now() + 300_000
    // When the survivor's tasks of every partition run (the takeover itself, without the queued commands).
    let tAllRunning = NaN
    const partitions = topology.definition.partitions
    while (firstAnswer.size < moved.length && now() < answerDeadline) {
      if (Number.isNaN(tAllRunning)) {
        const body = (await httpGet(a.port, '/metrics'))?.body ?? ''
        if (metricSum(body, 'decider_task_state', 'state="RUNNING"') >= partitions) tAllRunning = now()
      }
      for (const p of moved) {
        if (firstAnswer.has(p)) continue
        const r = load.firstReply(p, tKill)
        if (r !== undefined) firstAnswer.set(p, r)
      }
      if (firstAnswer.size < moved.length) {
        survivorAlive()
        await sleep(100)
      }
    }
    if (firstAnswer.size < moved.length)
      throw new Error(
        `moved partitions ${moved.filter((p) => !firstAnswer.has(p)).join(',')} did not answer within 300 s of Stable:\n${a.w.output().slice(-3000)}`,
      )
    const tAllMoved = Math.max(...firstAnswer.values())
    if (Number.isNaN(tAllRunning)) tAllRunning = tAllMoved // ran and answered within one poll
    const queuedOnMoved = load.count(
      (i) => moved.includes(load.partition[i]!) && load.sentAt[i]! >= tKill && load.sentAt[i]! < tAllRunning,
    )
    const survivorReplayed =
      metricSum((await httpGet(a.port, '/metrics'))?.body ?? '', 'decider_restore_records_total') -
      restoredBefore
    const windowEnd = tAllMoved + AFTER_MS
    while (now() < windowEnd) {
      await sleep(Math.min(250, Math.max(0, windowEnd - now())))
      survivorAlive()
    }
    await load.stop()
    await load.drain(120_000, survivorAlive)

    const beforeTo = tKill - BEFORE_GAP_MS
    const beforeFrom = beforeTo - Math.max(0, Math.min(BEFORE_MS, o.warmupSeconds * 1000 - BEFORE_GAP_MS))
    const inBefore = (i: number) => load.sentAt[i]! >= beforeFrom && load.sentAt[i]! < beforeTo
    const nonMoved = (i: number) =>
      !moved.includes(load.partition[i]!) && load.sentAt[i]! >= tKill && load.sentAt[i]! <= windowEnd
    const result: FailoverResult = {
      standbyReplicas: o.standbys,
      aggregates: o.aggregates,
      rate: o.rate,
      sessionTimeoutMs: FAILOVER_SESSION_TIMEOUT_MS,
      changelogFillPerSec,
      bothReadySeconds,
      movedPartitions: moved,
      killToRebalanceMs: tNotStable - tKill,
      rebalanceMs: tStable - tNotStable,
      killToStableMs: tStable - tKill,
      moved: moved.map((p) => ({ partition: p, fromKillMs: firstAnswer.get(p)! - tKill })),
      movedAnswerFromKillMs: tAllMoved - tKill,
      movedAnswerFromStableMs: tAllMoved - tStable,
      movedRunningFromStableMs: tAllRunning - tStable,
      queuedOnMoved,
      survivorReplayed,
      before: load.summary(inBefore),
      beforeAnsweredAfterKill: load.count((i) => inBefore(i) && !(load.replyAt[i]! < tKill)),
      nonMovedDuring: load.summary(nonMoved),
      nonMovedDuringWritten: load.summary(nonMoved, 'written'),
      repliesHeldBackMs: load.maxHeldBack((i) => load.sentAt[i]! >= tKill - 1000),
      sent: load.sent,
      replied: load.repliedCount,
      survivorPeakRssMb: vmRssMb(a.w.proc.pid, 'VmHWM'),
      survivorRssMb: vmRssMb(a.w.proc.pid, 'VmRSS'),
    }
    return result
  } finally {
    await load.close()
    await stopWorkers(ws.map((w) => w.w))
  }
}
