/**
 * A worker's CPU profile split by stage of a command's path, each sample attributed by its stack (the innermost
 * frame that names a stage wins): what `bench/profile-summary.ts --stages` prints, and the table in
 * docs/BENCHMARKS.md ("Where a command's time goes"). Stages:
 *   fetch       kafkajs' consumer, Fetch decoding, the input transaction filter and the consumer loop
 *   decode      the command envelope: msgpack, zod (envelope and payload), key checks (command-decoder.ts)
 *   load        snapshots from the cache or LevelDB (snapshot-loader.ts)
 *   decide      the decider's decide/evolve, and the processor around it (plain-data checks, envelopes)
 *   encode      msgpack of events, replies and snapshots (codec.ts, snapshot-bytes.ts, batch-outputs.ts)
 *   produce     building and sending the Produce request (produce-encoder.ts, kafkajs' producer, the socket)
 *   transaction kafkajs' transaction control (AddOffsets, TxnOffsetCommit, EndTxn, their requests)
 *   network     every request's framing and socket write, and reading responses (mostly the Produce bytes)
 *   store       the LevelDB write after the commit (snapshots, event index, checkpoint)
 *   metrics     prom-client and the metrics listener, pino
 *   gc          the garbage collector
 *   other       the rest (the event loop, promises, timers)
 */
import type { Profile } from './profile-summary.ts'

export const STAGES = [
  'fetch',
  'decode',
  'load',
  'decide',
  'encode',
  'produce',
  'transaction',
  'network',
  'store',
  'metrics',
  'gc',
  'other',
] as const
export type Stage = (typeof STAGES)[number]

/** [pattern on "function url", stage], the first that matches a frame names its stage. */
const RULES: [RegExp, Stage][] = [
  [
    /^frameRequest |^writeBuffer $|stream_base_commons|node:net|kafkajs\/src\/network\/|protocol\/request\.js/,
    'network',
  ],
  [/src\/runtime\/command-decoder\.ts|node_modules\/zod\//, 'decode'],
  [/src\/runtime\/snapshot-loader\.ts|src\/runtime\/snapshot-cache\.ts|getMany/, 'load'],
  [
    /src\/domain\/snapshot-bytes\.ts|src\/domain\/codec\.ts|src\/runtime\/batch-outputs\.ts|node_modules\/msgpackr\//,
    'encode',
  ],
  [
    /src\/runtime\/command-guard\.ts|topologies\/|src\/domain\/plain-data\.ts|src\/runtime\/processor\.ts/,
    'decide',
  ],
  [/src\/state\/|classic-level|abstract-level|level-transcoder|src\/runtime\/event-index\.ts/, 'store'],
  [
    /src\/kafka\/produce-encoder\.ts|src\/kafka\/fast-produce\.ts|requests\/produce\/|kafkajs\/src\/producer\/(sendMessages|groupMessages|createTopicData|messageProducer)|recordBatch\/(v0|record|header)\/index/,
    'produce',
  ],
  [
    /transactionManager|eosManager|requests\/(addOffsetsToTxn|txnOffsetCommit|endTxn|addPartitionsToTxn|findCoordinator)|src\/kafka\/transactional-producer\.ts|src\/runtime\/commit\.ts/,
    'transaction',
  ],
  [
    /kafkajs\/src\/consumer\/|requests\/fetch\/|recordBatch\/v0\/decoder|src\/kafka\/consumer-loop\.ts|src\/kafka\/input-transactions\.ts|src\/kafka\/task-ports\.ts/,
    'fetch',
  ],
  [/prom-client|src\/metrics\/|pino/, 'metrics'],
]

/** Samples per stage (idle samples left out), over the whole profile or between window[0] and window[1] seconds. */
export function stageSplit(p: Profile, window?: [number, number]): Map<Stage, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const stageOf = new Map<number, Stage | 'idle'>()
  const resolve = (id: number): Stage | 'idle' => {
    const known = stageOf.get(id)
    if (known !== undefined) return known
    const n = byId.get(id)!
    const fn = n.callFrame.functionName
    let stage: Stage | 'idle' | undefined
    if (fn === '(idle)') stage = 'idle'
    else if (fn === '(garbage collector)') stage = 'gc'
    else {
      const text = `${fn} ${n.callFrame.url}`
      stage = RULES.find(([re]) => re.test(text))?.[1]
      if (stage === undefined) {
        const up = parent.get(id)
        stage = up === undefined ? 'other' : resolve(up)
      }
    }
    stageOf.set(id, stage)
    return stage
  }
  const out = new Map<Stage, number>()
  const samples = p.samples ?? []
  let t = 0
  for (let i = 0; i < samples.length; i++) {
    t += p.timeDeltas?.[i] ?? 0
    if (window && (t / 1e6 < window[0] || t / 1e6 >= window[1])) continue
    const st = resolve(samples[i]!)
    if (st !== 'idle') out.set(st, (out.get(st) ?? 0) + 1)
  }
  return out
}

/** The split as lines: share of busy samples per stage, and µs per command given the CPU seconds per 1,000 commands. */
export function formatStages(p: Profile, cpuPer1k?: number, window?: [number, number]): string {
  const split = stageSplit(p, window)
  const busy = [...split.values()].reduce((a, b) => a + b, 0)
  const lines = ['stage        share of busy' + (cpuPer1k ? '   µs per command' : '')]
  for (const s of STAGES) {
    const share = (split.get(s) ?? 0) / busy
    lines.push(
      `${s.padEnd(12)} ${(100 * share).toFixed(1).padStart(6)}%` +
        (cpuPer1k ? `   ${(share * cpuPer1k * 1000).toFixed(1).padStart(8)}` : ''),
    )
  }
  return lines.join('\n')
}
