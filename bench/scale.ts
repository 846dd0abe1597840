/** 3. Scale: fill a changelog with snapshots, then restore time, RSS, and ready after SIGKILL on the same state dir. */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { Admin, Kafka, Message } from 'kafkajs'
import { Packr } from 'msgpackr'
import { OFFSET_MARKER_KEY, type OffsetMarker, type SnapshotRecord } from '../src/domain/envelopes.ts'
import type { WorkerProcess } from '../scripts/eos/bank.ts'
import { prepareTopology } from './topics.ts'
import { now, withTimeout } from './util.ts'
import { httpGet, kafka_brokers, metricSum, startWorker, stopWorkers, waitReady } from './workers.ts'

const packr = new Packr({ useRecords: false, mapsAsObjects: true })

function vmRssMb(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number {
  if (pid === undefined) return NaN
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : NaN
  } catch {
    return NaN
  }
}

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
