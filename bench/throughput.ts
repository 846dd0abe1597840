/** 2. / 4. EOS throughput: decider workers on a backlog of bank commands, from the group's committed offsets. */
import path from 'node:path'
import type { Admin, Kafka } from 'kafkajs'
import type { Topology } from '../src/topology/loader.ts'
import { encodeCommand, type Cmd, type WorkerProcess } from '../scripts/eos/bank.ts'
import { committedSum, prepareTopology, produceAll, topicEnd } from './topics.ts'
import type { Throughput } from './types.ts'
import { now, sleep } from './util.ts'
import { brokerPid, cpuOf, cpuSeconds } from './cpu.ts'
import { BATCH_STEPS, kafka_brokers, scrape, startWorker, waitReady, type RunningWorker } from './workers.ts'

export async function eosThroughput(
  kafka: Kafka,
  admin: Admin,
  dir: string,
  name: string,
  n: number,
  workload: Cmd[],
  profileDir: string | undefined,
  all: WorkerProcess[],
  mode: 'preloaded' | 'after-ready',
): Promise<{ result: Throughput; workers: WorkerProcess[]; running: RunningWorker[]; topology: Topology }> {
  const { file, topology } = await prepareTopology(admin, dir, name)
  const preload = async () => {
    // Idempotent and one send at a time: a retried send under load neither duplicates nor reorders commands.
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    await produceAll(producer, topology.topics.commands, workload.map(encodeCommand), 5000, 1)
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
  const broker = brokerPid(kafka_brokers(kafka))
  const cpu = () => ({ workers: cpuOf(ws.map((w) => w.w.proc.pid)), broker: cpuSeconds(broker) })
  const cpu0 = cpu()
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
  const cpu1 = cpu()
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
      workerCpuPer1k: ((cpu1.workers - cpu0.workers) / commands) * 1000,
      brokerCpuPer1k: ((cpu1.broker - cpu0.broker) / commands) * 1000,
      gcMinorPer1k: ((m1.gcMinor - m0.gcMinor) / commands) * 1000,
      gcMajorPer1k: ((m1.gcMajor - m0.gcMajor) / commands) * 1000,
      batchSplitMs: Object.fromEntries(
        BATCH_STEPS.map((s) => [
          s,
          batchCount > 0 ? (((m1.steps[s] ?? 0) - (m0.steps[s] ?? 0)) / batchCount) * 1000 : NaN,
        ]),
      ),
    },
    workers: ws.map((w) => w.w),
    running: ws,
    topology,
  }
}
