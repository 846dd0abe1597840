/** 3. Scale: fill a changelog with snapshots, then restore time, RSS, and ready after SIGKILL on the same state dir. */
import path from 'node:path'
import type { Admin, Kafka } from 'kafkajs'
import type { WorkerProcess } from '../scripts/eos/bank.ts'
import { fillChangelog } from './fill.ts'
import { prepareTopology } from './topics.ts'
import { now, withTimeout } from './util.ts'
import { httpGet, kafka_brokers, metricSum, startWorker, stopWorkers, vmRssMb, waitReady } from './workers.ts'

export async function scalePhase(
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
  const changelogFillPerSec = await fillChangelog(kafka, topology, aggregates)
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
