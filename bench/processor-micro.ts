/**
 * Micro-benchmark of the CommandProcessor alone (no Kafka, no LevelDB): decode + decide + stage a batch of 1,000
 * bank commands over 200 accounts, repeated. For optimisations of src/runtime/processor.ts and src/domain/codec.ts.
 * Usage: node --import tsx bench/processor-micro.ts [rounds]
 */
import type { AnyDecider } from '../src/domain/decider.ts'
import type { SnapshotRecord } from '../src/domain/envelopes.ts'
import type { InputRecord } from '../src/runtime/ports.ts'
import { CommandProcessor } from '../src/runtime/processor.ts'
import { partitionOf } from '../src/kafka/partitioner.ts'
import { topicNames } from '../src/topology/schema.ts'
import bank from '../topologies/bank-account.ts'
import { bankCommands } from './topics.ts'
import { encodeCommand } from '../scripts/eos/bank.ts'

const rounds = Number(process.argv[2] ?? 200)
const p = new CommandProcessor({
  decider: bank as unknown as AnyDecider,
  topics: topicNames({ name: 'bank', topics: {} }),
  topologyName: 'bank',
  serialization: 'msgpack',
  dedupeWindow: 32,
  onDecideError: 'fail-command',
  maxRecordBytes: 1_000_000,
  now: Date.now,
  routing: { partitions: 1, partitionOf },
})
const ts = String(Date.now())
const records: InputRecord[] = bankCommands(200, 1000, 7).map((c, i) => {
  const e = encodeCommand(c)
  return {
    partition: 0,
    offset: BigInt(i),
    key: Buffer.from(e.key),
    value: e.value,
    headers: e.headers,
    timestamp: ts,
  }
})
const snapshots = new Map<string, SnapshotRecord | undefined>()
let best = Infinity
for (let r = 0; r < rounds; r++) {
  const t = performance.now()
  const { decoded, aggregateIds } = p.decodeBatch(records)
  for (const id of aggregateIds) if (!snapshots.has(id)) snapshots.set(id, undefined)
  p.processDecoded(decoded, snapshots)
  const us = ((performance.now() - t) * 1000) / records.length
  if (r >= rounds / 4 && us < best) best = us
}
console.log(
  `processor: best ${best.toFixed(2)} µs per command (decode + decide + stage, 1,000-command batches, ${rounds} rounds)`,
)
