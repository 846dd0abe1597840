/**
 * The short configuration of the exactly-once verifier (scripts/eos/verifier.ts), run on every CI build:
 * worker processes, at least 2 SIGKILL cycles and 1 scale cycle (3 -> 1 -> 3) while commands and
 * malformed records flow; then every check (replies, event versions, snapshots, LevelDB stores,
 * hanging transactions, dead letters). The long configuration is `npm run verify:eos` (README).
 */
import { describe, expect, it } from 'vitest'
import { runEosVerification } from '../../scripts/eos/verifier.ts'
import { kafkaBrokers } from '../support/kafka.ts'

describe('exactly-once verifier, short configuration', () => {
  it('finds 0 lost, 0 duplicated, 0 mismatched through kills and a scale cycle', async () => {
    const summary = await runEosVerification({
      brokers: kafkaBrokers(),
      seed: 7,
      commands: 8000,
      accounts: 500,
      workers: 3,
      kills: 2,
      scaleCycles: 1,
      malformedPer10k: 20,
      rate: 1500,
      brokerRestarts: 0,
      quiesceTimeoutMs: 180_000,
      log: (m) => console.log(`[verify] ${m}`),
    })
    expect(summary.problems).toEqual([])
    expect(summary.ok).toBe(true)
    expect(summary.kills).toBeGreaterThanOrEqual(2)
    expect(summary.scaleCycles).toBeGreaterThanOrEqual(1)
    expect(summary.rebalances).toBeGreaterThanOrEqual(1)
    expect(summary.malformed).toBe(16)
    expect(summary.replies).toBe(summary.inputRecords + 3 * 4) // + the malformed records with a commandId
  }, 400_000)
})
