/**
 * The hostile configuration of the verifier (`npm run verify:eos -- --hostile`), short, on every CI build: the bank
 * workload with SIGKILLs and a scale cycle, and among it every class of hostile input (scripts/eos/hostile.ts):
 * random bytes, a ~900 KB value, deep nesting, the changelog's internal key, a non-UTF-8 key, commands on the wrong
 * partition, and two transactional producers interleaving aborted and committed transactions. Every valid command
 * must be answered exactly once, every hostile record dead-lettered once per copy with a right reason, no aborted
 * command processed, no partition standing still for more than 60 s with lag, no worker exiting by itself.
 */
import { describe, expect, it } from 'vitest'
import { runEosVerification } from '../../scripts/eos/verifier.ts'
import { kafkaBrokers } from '../support/kafka.ts'

describe('exactly-once verifier, hostile input, short configuration', () => {
  it('answers every valid command once and dead-letters every hostile record, through kills and a scale cycle', async () => {
    const summary = await runEosVerification({
      brokers: kafkaBrokers(),
      seed: 13,
      commands: 6000,
      accounts: 400,
      workers: 3,
      kills: 2,
      scaleCycles: 1,
      malformedPer10k: 10,
      hostilePer10k: 50,
      transactionRounds: 8,
      maxPartitionStallMs: 60_000,
      rate: 1500,
      brokerRestarts: 0,
      quiesceTimeoutMs: 180_000,
      log: (m) => console.log(`[verify-hostile] ${m}`),
    })
    expect(summary.problems).toEqual([])
    expect(summary.ok).toBe(true)
    expect(summary.hostile).toBe(30 + 8 * 6)
    expect(summary.kills).toBeGreaterThanOrEqual(2)
    expect(summary.unexpectedExits).toBe(0)
    expect(summary.maxPartitionStallSeconds).toBeLessThanOrEqual(60)
  }, 500_000)
})
