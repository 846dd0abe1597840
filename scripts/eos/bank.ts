/**
 * Exactly-once verification support (used by the integration tests and by scripts/verify-eos.ts): a deterministic
 * bank-account workload and an independent reference model (workload.ts), readers of the output topics
 * (read_committed, read-topic.ts), worker processes (worker.ts), and the check of a run's outputs (bank-checks.ts):
 * one reply per input record with the status the model predicts, event versions 1..n per aggregate with no
 * duplicate eventId, the last changelog snapshot equal to the model and to the fold of the events.
 * This module re-exports all of them, and writes the bank topologies.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

export * from './workload.ts'
export * from './read-topic.ts'
export * from './bank-checks.ts'
export * from './worker.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `kd-${prefix}-`))
}

/** Writes a bank-account topology with a unique name (so topics and groups are fresh) and returns its path. */
export function writeBankTopology(dir: string, name: string, extra = '', partitions = 6): string {
  const file = path.join(dir, `${name}.yaml`)
  writeFileSync(
    file,
    `name: ${name}\ndecider: ${path.join(ROOT, 'topologies/bank-account.ts')}\npartitions: ${partitions}\n${extra}`,
  )
  return file
}
