/**
 * The broker's warm-up: load on a throwaway topology until the broker's JIT compilers go quiet, before any phase is
 * measured.
 *
 * A broker the bench starts is a fresh JVM. Under load its C1/C2 compiler threads keep compiling the produce, fetch
 * and transaction paths for minutes, at about half a core on this 2-core machine: CPU the worker, the broker's own
 * request threads and the load generator then lack, which shows as latency and lost throughput that a long-running
 * broker does not have. So the warm-up drains a backlog through one EOS worker and then offers it the latency
 * levels' kind of load (alternately half and a tenth of that drain's rate) in windows, until the compiler threads used
 * less than QUIET_CORES (bench/cpu.ts) of a core over a window, or the time is up. It reads the threads from /proc, so it needs
 * the broker's pid (a broker the bench started, or one on this machine): without it, it is skipped.
 */
import type { Admin, Kafka } from 'kafkajs'
import type { WorkerProcess } from '../scripts/eos/bank.ts'
import { brokerPid, JIT_THREADS, QUIET_CORES, threadCpuSeconds } from './cpu.ts'
import { measureLatency } from './latency.ts'
import { eosThroughput } from './throughput.ts'
import { bankCommands } from './topics.ts'
import type { BrokerWarmup } from './types.ts'
import { now } from './util.ts'
import { kafka_brokers, stopWorkers } from './workers.ts'

/** Seconds of load per window (shorter when the whole warm-up is). */
const WINDOW_SECONDS = 10

export async function warmBroker(
  kafka: Kafka,
  admin: Admin,
  dir: string,
  run: string,
  o: { brokerWarmupSeconds: number; accounts: number; backlog: number },
  workers: WorkerProcess[],
  log: (msg: string) => void,
): Promise<BrokerWarmup | undefined> {
  if (o.brokerWarmupSeconds <= 0) return undefined
  const broker = brokerPid(kafka_brokers(kafka))
  if (broker === undefined) {
    log('bench: broker warm-up skipped: no broker process on this machine to watch')
    return undefined
  }
  const jit = () => threadCpuSeconds(broker, JIT_THREADS)
  const started = now()
  const jit0 = jit()
  log(
    `bench: 0 broker warm-up, until its JIT compilers use < ${QUIET_CORES} core (at most ${o.brokerWarmupSeconds} s)`,
  )
  const backlog = Math.min(o.backlog, 50_000)
  const one = await eosThroughput(
    kafka,
    admin,
    dir,
    `bench-warm-${run}`,
    1,
    bankCommands(o.accounts, backlog, 2),
    undefined,
    workers,
    'preloaded',
  )
  const windows: BrokerWarmup['windows'] = []
  try {
    const w = one.workers[0]!
    const target = {
      group: one.topology.applicationId,
      commands: one.topology.topics.commands,
      replies: one.topology.topics.replies,
      process: w,
    }
    const full = Math.max(10, Math.round(one.result.commandsPerSec))
    const rates = [Math.round(full / 2), Math.max(1, Math.round(full / 10))]
    const windowSeconds = Math.max(1, Math.min(WINDOW_SECONDS, o.brokerWarmupSeconds))
    // At least one window (the drain alone can take longer than a short warm-up), then until quiet or out of time.
    for (let i = 0; i === 0 || (now() - started) / 1000 < o.brokerWarmupSeconds; i++) {
      const rate = rates[i % rates.length]!
      const [c0, t0] = [jit(), now()]
      await measureLatency(kafka, admin, target, o.accounts, rate, windowSeconds, `warm${i}`)
      const cores = (jit() - c0) / ((now() - t0) / 1000)
      windows.push({ rate, compilerCores: cores })
      log(`bench:    ${rate}/s for ${windowSeconds} s: broker JIT compilers ${cores.toFixed(2)} core`)
      if (cores < QUIET_CORES) break
    }
  } finally {
    await stopWorkers(one.workers)
  }
  const last = windows[windows.length - 1]
  return {
    seconds: (now() - started) / 1000,
    compilerCpuSeconds: jit() - jit0,
    quiet: last !== undefined && last.compilerCores < QUIET_CORES,
    windows,
  }
}
