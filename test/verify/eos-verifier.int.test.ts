/**
 * The short configuration of the exactly-once verifier (scripts/eos/verifier.ts), run on every CI build:
 * worker processes, at least 2 SIGKILL cycles and 1 scale cycle (3 -> 1 -> 3) while commands and
 * malformed records flow, with standby replicas on; then every check (replies, event versions, snapshots, LevelDB
 * stores, hanging transactions, dead letters, every store == the changelog at its checkpoint). The long configuration is `npm run verify:eos` (README).
 */
import { afterAll, describe, expect, it } from 'vitest'
import { runEosVerification } from '../../scripts/eos/verifier.ts'
import { startKafka, type KafkaHandle } from '../../src/devkafka/index.ts'
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
      standbyReplicas: 1,
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
    // (g) every store's event index == the events topic per aggregate (after the SIGKILLs), all events indexed
    expect(summary.indexProblems).toBe(0)
    expect(summary.indexedEvents).toBeGreaterThanOrEqual(summary.events)
    // (h) the projection's views == the model, on the changelog and in every view store the workers left
    expect(summary.projectionProblems).toBe(0)
    expect(summary.projectionViews).toBeGreaterThan(0)
    expect(summary.projectionStoresChecked).toBeGreaterThan(0)
    // (i) with standby replicas: every snapshot store (actives', standbys', killed workers') == the changelog at its
    // checkpoint, and partitions did have copies on more than one worker
    expect(summary.snapshotStoreProblems).toBe(0)
    expect(summary.replicatedPartitions).toBe(6)
  }, 400_000)
})

// The configuration where kafkajs' cross-broker send retries duplicated records and its read_committed filter
// leaked aborted replies (both fixed; see src/kafka/transactional-producer.ts and src/kafka/transactions.ts):
// 3 brokers (RF 3, min ISR 2), one of them killed and restarted while the workers are killed and scaled.
describe('exactly-once verifier, short configuration on 3 brokers with a broker restart', () => {
  let cluster: KafkaHandle | undefined
  afterAll(async () => {
    await cluster?.stop()
  })

  it('finds 0 lost, 0 duplicated, 0 mismatched, no hanging transaction', async () => {
    cluster = await startKafka({ nodes: 3, heapMb: 384 })
    const handle = cluster
    const summary = await runEosVerification({
      brokers: handle.brokers,
      seed: 11,
      commands: 8000,
      accounts: 500,
      workers: 3,
      kills: 2,
      scaleCycles: 1,
      malformedPer10k: 10,
      rate: 1500,
      restartBroker: async () => {
        await handle.killNode(2)
        await new Promise((r) => setTimeout(r, 3000))
        await handle.restartNode(2)
      },
      brokerRestarts: 1,
      replicationFactor: 3,
      quiesceTimeoutMs: 180_000,
      log: (m) => console.log(`[verify-3] ${m}`),
    })
    expect(summary.problems).toEqual([])
    expect(summary.ok).toBe(true)
    expect(summary.kills).toBeGreaterThanOrEqual(2)
    expect(summary.brokerRestarts).toBe(1)
    expect(summary.replies).toBeGreaterThanOrEqual(summary.inputRecords)
  }, 600_000)
})
