/** The exactly-once verification support, bound to the test broker. */
import { spawnWorker as spawnOn, type WorkerProcess } from '../../scripts/eos/bank.ts'
import { kafkaBrokers } from './kafka.ts'

export * from '../../scripts/eos/bank.ts'

/** Starts `decider run <topology>` as a child process on the test broker. */
export function spawnWorker(
  topologyFile: string | string[],
  stateDir: string,
  env: Record<string, string> = {},
): WorkerProcess {
  return spawnOn(topologyFile, stateDir, kafkaBrokers(), env)
}
