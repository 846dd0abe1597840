/**
 * `npm run verify:eos -- [options]`: the exactly-once verifier (see scripts/eos/verifier.ts).
 * Starts its own broker (or a 3-broker cluster with --cluster) unless --brokers is given.
 * Exits 0 when every check holds, 1 on any violation, 2 on bad usage.
 */
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { Command, InvalidArgumentError } from 'commander'
import { ensureKafkaJars, startKafka, type KafkaHandle } from '../src/devkafka/index.ts'
import { runEosVerification } from './eos/verifier.ts'

const int = (v: string): number => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('a non-negative integer')
  return n
}

const program = new Command('verify-eos')
  .description(
    'exactly-once verifier: workload + SIGKILLs + scaling (+ broker restarts), then checks every output',
  )
  .option('--seed <n>', 'workload seed', int, 42)
  .option('--commands <n>', 'commands to send', int, 200_000)
  .option('--accounts <n>', 'bank accounts (aggregates)', int, 10_000)
  .option('--workers <n>', 'worker processes', int, 3)
  .option('--kills <n>', 'SIGKILLs at least', int, 20)
  .option('--scale-cycles <n>', '3 -> 1 -> 3 cycles at least', int, 5)
  .option('--rate <n>', 'commands per second sent', int, 1500)
  .option('--malformed-per-10k <n>', 'malformed records per 10,000 commands', int, 10)
  .option(
    '--hostile',
    'hostile input among the commands (scripts/eos/hostile.ts) and transactional producers that abort',
  )
  .option('--hostile-per-10k <n>', 'hostile records per 10,000 commands (with --hostile)', int, 20)
  .option('--transaction-rounds <n>', 'rounds of aborted + committed transactions (with --hostile)', int, 20)
  .option(
    '--max-partition-stall <ms>',
    'bound on one partition standing still with lag (with --hostile)',
    int,
    60_000,
  )
  .option('--standby-replicas <n>', 'processing.standbyReplicas of the verified topology', int, 0)
  .option('--cluster', 'run a 3-broker cluster (RF 3, min ISR 2) and restart one broker during the run')
  .option('--broker-restarts <n>', 'broker restarts (with --cluster)', int, 1)
  .option('--brokers <list>', 'use these brokers instead of starting one')
  .option('--quiesce-timeout <ms>', 'bound on waiting for the workers to catch up', int, 600_000)
  .option('--out <file>', 'JSON summary', 'verify/results/eos-latest.json')
  .parse()

const o = program.opts<{
  seed: number
  commands: number
  accounts: number
  workers: number
  kills: number
  scaleCycles: number
  rate: number
  malformedPer10k: number
  hostile?: boolean
  hostilePer10k: number
  transactionRounds: number
  maxPartitionStall: number
  standbyReplicas: number
  cluster?: boolean
  brokerRestarts: number
  brokers?: string
  quiesceTimeout: number
  out: string
}>()

const log = (m: string) => console.error(`[verify-eos ${new Date().toISOString().slice(11, 19)}] ${m}`)
let kafka: KafkaHandle | undefined
let brokers = o.brokers?.split(',').map((b) => b.trim())
if (!brokers) {
  const jars = await ensureKafkaJars({ log })
  kafka = await startKafka({ jars, nodes: o.cluster ? 3 : 1 })
  brokers = kafka.brokers
  log(`Apache Kafka ${jars.version}: ${kafka.bootstrap} (${o.cluster ? '3 brokers' : '1 broker'})`)
}
let exitCode = 1
try {
  mkdirSync(path.dirname(o.out), { recursive: true })
  const handle = kafka
  const summary = await runEosVerification({
    brokers,
    seed: o.seed,
    commands: o.commands,
    accounts: o.accounts,
    workers: o.workers,
    kills: o.kills,
    scaleCycles: o.scaleCycles,
    rate: o.rate,
    malformedPer10k: o.malformedPer10k,
    ...(o.hostile
      ? {
          hostilePer10k: o.hostilePer10k,
          transactionRounds: o.transactionRounds,
          maxPartitionStallMs: o.maxPartitionStall,
        }
      : {}),
    ...(o.cluster && handle
      ? {
          restartBroker: async () => {
            const i = 1 + Math.floor(Math.random() * 2)
            await handle.killNode(i)
            await new Promise((r) => setTimeout(r, 5000))
            await handle.restartNode(i)
          },
        }
      : {}),
    brokerRestarts: o.cluster ? o.brokerRestarts : 0,
    standbyReplicas: o.standbyReplicas,
    ...(o.cluster ? { replicationFactor: 3 } : {}),
    quiesceTimeoutMs: o.quiesceTimeout,
    log,
    summaryFile: o.out,
  })
  const { problems, ...figures } = summary
  console.log(JSON.stringify(figures, null, 2))
  for (const p of problems) console.log(`VIOLATION ${p}`)
  console.log(
    summary.ok
      ? `OK: 0 lost, 0 duplicated, 0 mismatched (summary in ${o.out})`
      : `FAILED: ${problems.length} problems (summary in ${o.out})`,
  )
  exitCode = summary.ok ? 0 : 1
} finally {
  await kafka?.stop()
}
process.exit(exitCode)
