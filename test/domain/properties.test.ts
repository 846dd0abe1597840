/** Property-based tests (fast-check) of decoding and of the processor's state bookkeeping. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CONTENT_TYPES, encode, type Serialization } from '../../src/domain/codec.ts'
import { fold, type AnyDecider } from '../../src/domain/decider.ts'
import {
  commandEnvelopeSchema,
  HEADERS,
  type EventEnvelope,
  type ReplyEnvelope,
  type SnapshotRecord,
} from '../../src/domain/envelopes.ts'
import type { InputRecord } from '../../src/runtime/ports.ts'
import { CommandProcessor } from '../../src/runtime/processor.ts'
import { partitionOf } from '../../src/kafka/partitioner.ts'
import { commandRecord, decodeRecord } from '../../src/testing/records.ts'
import { topicNames } from '../../src/topology/schema.ts'
import bank, { type Account } from '../../topologies/bank-account.ts'

const topics = topicNames({ name: 'bank', topics: {} })
const processor = (dedupeWindow = 32) =>
  new CommandProcessor({
    decider: bank as unknown as AnyDecider,
    topics,
    topologyName: 'bank',
    serialization: 'msgpack',
    dedupeWindow,
    maxRecordBytes: 1_000_000,
    onDecideError: 'fail-command',
    now: () => 0,
    routing: { partitions: 1, partitionOf },
  })

const record = (
  key: string | null,
  value: Buffer,
  offset: number,
  headers: Record<string, string> = {},
): InputRecord => ({
  partition: 0,
  offset: BigInt(offset),
  key: key === null ? null : Buffer.from(key),
  value,
  headers,
  timestamp: '0',
})

/** Every invalid record must yield exactly one dead letter carrying its bytes, and a reply iff its commandId is known. */
function checkInvalidHandling(p: CommandProcessor, records: InputRecord[]) {
  const { decoded } = p.decodeBatch(records)
  expect(decoded).toHaveLength(records.length)
  const result = p.processDecoded(decoded, new Map())
  const dlq = result.records.filter((r) => r.topic === topics.deadLetters)
  const invalid = decoded.filter((d) => !d.ok)
  expect(result.outcomes.byStatus.invalid).toBe(invalid.length)
  const dlqForInvalid = dlq.filter((r) =>
    invalid.some((d) => String(d.record.offset) === r.headers[HEADERS.sourceOffset]),
  )
  expect(dlqForInvalid).toHaveLength(invalid.length)
  for (const d of invalid) {
    const dl = dlq.find((r) => r.headers[HEADERS.sourceOffset] === String(d.record.offset))!
    expect(dl.value).toEqual(d.record.value)
    expect(typeof dl.headers[HEADERS.errorCode]).toBe('string')
  }
  const invalidReplies = result.records
    .filter((r) => r.topic === topics.replies)
    .map((r) => decodeRecord<ReplyEnvelope>(r))
    .filter((r) => r.status === 'invalid')
  expect(invalidReplies.map((r) => r.commandId)).toEqual(
    invalid.filter((d) => d.commandId !== undefined).map((d) => d.commandId),
  )
  return decoded
}

describe('decoding arbitrary input (property)', () => {
  it('arbitrary bytes never throw and are classified undecodable or invalid (dead letter with the bytes)', () => {
    const p = processor()
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.option(fc.string(), { nil: null }),
            fc.uint8Array({ maxLength: 64 }),
            fc.constantFrom<Record<string, string>>(
              {},
              { 'content-type': 'application/json' },
              { 'content-type': 'application/msgpack' },
            ),
          ),
          {
            maxLength: 20,
          },
        ),
        (items) => {
          const records = items.map(([k, bytes, h], i) => record(k, Buffer.from(bytes), i, h))
          const decoded = checkInvalidHandling(p, records)
          for (const d of decoded) {
            if (d.ok) expect(commandEnvelopeSchema.safeParse(d.envelope).success).toBe(true)
            else
              expect([
                'undecodable',
                'invalid_envelope',
                'missing_key',
                'unknown_type',
                'invalid_payload',
              ]).toContain(d.reason)
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  const almostEnvelope = fc.record(
    {
      commandId: fc.oneof(fc.string({ maxLength: 300 }), fc.integer(), fc.constant('')),
      type: fc.oneof(
        fc.constantFrom('CreateAccount', 'Deposit', 'Withdraw', 'Nope', '__proto__', 'constructor'),
        fc.string(),
      ),
      payload: fc.oneof(
        fc.jsonValue({ maxDepth: 2 }),
        fc.record({ amount: fc.oneof(fc.integer(), fc.double()), owner: fc.string() }, { requiredKeys: [] }),
      ),
      expectedVersion: fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.string()),
      metadata: fc.oneof(
        fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 1 })),
        fc.jsonValue({ maxDepth: 1 }),
      ),
    },
    { requiredKeys: [] },
  )

  it('arbitrary values and near-envelopes, msgpack or JSON: classified by the envelope schema, never throwing', () => {
    const p = processor()
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.option(fc.string({ minLength: 1 }), { nil: null }),
            fc.oneof(almostEnvelope, fc.jsonValue({ maxDepth: 3 })),
            fc.constantFrom<Serialization>('msgpack', 'json'),
            fc.boolean(),
          ),
          {
            maxLength: 15,
          },
        ),
        (items) => {
          const values = items.map(([, v]) => v)
          const records = items.map(([k, v, s, withCt], i) =>
            record(k, encode(v, s), i, withCt ? { [HEADERS.contentType]: CONTENT_TYPES[s] } : {}),
          )
          const decoded = checkInvalidHandling(p, records)
          decoded.forEach((d, i) => {
            // JSON without a content-type is only recognised when it is an object: other values may decode as msgpack junk
            const s = items[i]![2]
            const reliable =
              s === 'msgpack' ||
              items[i]![3] ||
              (typeof values[i] === 'object' && values[i] !== null && !Array.isArray(values[i]))
            if (!reliable) return
            const isEnvelope = commandEnvelopeSchema.safeParse(
              JSON.parse(JSON.stringify(values[i] ?? null)),
            ).success
            if (!isEnvelope) expect(d.ok ? 'ok' : d.reason).toBe('invalid_envelope')
            else if (items[i]![0] === null) expect(d.ok ? 'ok' : d.reason).toBe('missing_key')
          })
        },
      ),
      { numRuns: 300 },
    )
  })
})

type BankCmd = {
  aggregateId: string
  commandId: string
  type: 'CreateAccount' | 'Deposit' | 'Withdraw'
  payload: Record<string, unknown>
  expectedVersion?: number
}

const bankCommands = fc
  .array(
    fc.record({
      agg: fc.constantFrom('a', 'b', 'c'),
      kind: fc.constantFrom('CreateAccount', 'Deposit', 'Deposit', 'Withdraw', 'Withdraw', 'Resend'),
      amount: fc.integer({ min: 1, max: 200 }),
      expectedVersion: fc.option(fc.nat({ max: 6 }), { nil: undefined }),
    }),
    { maxLength: 60 },
  )
  .map((specs) => {
    const cmds: BankCmd[] = []
    specs.forEach((s, i) => {
      if (s.kind === 'Resend') {
        const earlier = cmds.filter((c) => c.aggregateId === s.agg)
        const e = earlier[s.amount % Math.max(earlier.length, 1)]
        if (e) cmds.push({ ...e })
        return
      }
      cmds.push({
        aggregateId: s.agg,
        commandId: `c${i}`,
        type: s.kind,
        payload: s.kind === 'CreateAccount' ? { owner: `o-${s.agg}` } : { amount: s.amount },
        ...(s.expectedVersion !== undefined ? { expectedVersion: s.expectedVersion } : {}),
      })
    })
    return cmds
  })

describe('processing random bank-account commands (property)', () => {
  it('versions stay contiguous, snapshot = fold(events), balance never negative, duplicates add nothing', () => {
    fc.assert(
      fc.property(
        bankCommands,
        fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 10 }),
        fc.oneof(fc.integer({ min: 0, max: 8 }), fc.constant(100)),
        (cmds, cuts, window) => {
          const p = processor(window)
          const snapshots = new Map<string, SnapshotRecord | undefined>()
          const events: EventEnvelope[] = []
          const replies: ReplyEnvelope[] = []
          const records = cmds.map((c, i) => commandRecord(c, i))
          let i = 0
          let cut = 0
          while (i < records.length) {
            const n = cuts[cut++ % cuts.length]!
            const batch = records.slice(i, i + n)
            i += n
            const { decoded } = p.decodeBatch(batch)
            const result = p.processDecoded(decoded, snapshots)
            for (const r of result.records) {
              if (r.topic === topics.events) events.push(decodeRecord<EventEnvelope>(r))
              if (r.topic === topics.replies) replies.push(decodeRecord<ReplyEnvelope>(r))
            }
            for (const [id, s] of result.snapshots) expect(snapshots.get(id)).toBe(s)
          }
          expect(replies).toHaveLength(cmds.length)
          for (const [id, snap] of snapshots) {
            const mine = events.filter((e) => e.aggregateId === id)
            expect(mine.map((e) => e.version)).toEqual(mine.map((_, k) => k + 1))
            expect(snap!.version).toBe(mine.length)
            expect(snap!.state).toEqual(fold(bank, mine))
            expect((snap!.state as Account).balance).toBeGreaterThanOrEqual(0)
            expect(snap!.recent.length).toBeLessThanOrEqual(window)
          }
          // every accepted reply names the events its command produced (a commandId may be accepted again once it
          // has left a small dedupe window, so match by version), and every event is named by one reply
          const accepted = replies.filter((x) => x.status === 'accepted')
          for (const r of accepted) {
            for (const [type, version] of r.events) {
              const e = events.find((x) => x.aggregateId === r.aggregateId && x.version === version)
              expect(e).toMatchObject({ type, commandId: r.commandId })
            }
          }
          expect(accepted.reduce((n, r) => n + r.events.length, 0)).toBe(events.length)
          // with a window holding every command, a commandId is never accepted twice on one aggregate
          if (window >= cmds.length) {
            const accepted = new Set<string>()
            for (const r of replies) {
              if (r.status !== 'accepted') continue
              const key = `${r.aggregateId}/${r.commandId}`
              expect(accepted.has(key)).toBe(false)
              accepted.add(key)
            }
          }
        },
      ),
      { numRuns: Number(process.env.PROP_RUNS ?? 200) },
    )
  })
})
