/**
 * The verifier's hostile input (`--hostile`): seeded records of every class a worker must survive, sent among the
 * valid workload, and transactional producers that abort. Each hostile record carries a unique marker in a header
 * (dead letters keep the original's own headers), so check (f) can find it and its outcome:
 *
 *   random bytes, a ~900 KB value, deep nesting ... dead-lettered (undecodable / invalid_envelope / invalid_payload)
 *   the changelog's internal key, non-UTF-8 key ... dead-lettered (reserved_key / invalid_key)
 *   a valid command on the wrong partition ........ dead-lettered (misrouted)
 *   commands in aborted transactions .............. never processed: no reply, no event, no dead letter
 *   commands in committed transactions ............ processed exactly once (accepted), among the aborted ones
 */
import type { Kafka } from 'kafkajs'
import { Packr } from 'msgpackr'
import { OFFSET_MARKER_KEY } from '../../src/domain/envelopes.ts'
import { partitionOf } from '../../src/kafka/partitioner.ts'
import type { Topology } from '../../src/topology/loader.ts'
import { readTopic } from './read-topic.ts'

const packr = new Packr({ useRecords: false })
export const HOSTILE_HEADER = 'x-hostile-marker'

export interface HostileRecord {
  key: string | Buffer | null
  value: Buffer | null
  headers: Record<string, string>
  /** Set when the record must go to a given partition (misrouted); else the key's partition. */
  partition?: number
  kind: string
  /** Dead-letter reasons that are right for it. */
  reasons: string[]
  marker: string
}

function prng(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 2 ** 32)
}

/** A command envelope whose payload is `depth` nested arrays, built byte by byte (msgpackr cannot pack it). */
const deeplyNested = (commandId: string, depth: number): Buffer => {
  const str = (v: string) => Buffer.from(packr.pack(v) as Uint8Array)
  const fields = [str('commandId'), str(commandId), str('type'), str('Deposit'), str('payload')]
  return Buffer.concat([Buffer.from([0x83]), ...fields, Buffer.alloc(depth, 0x91), Buffer.from([0x01])])
}

/** `n` hostile records, cycling through the classes, for a commands topic of `partitions` partitions. */
export function hostileRecords(seed: number, n: number, partitions: number): HostileRecord[] {
  const random = prng(seed ^ 0x5eed)
  const out: HostileRecord[] = []
  for (let i = 0; i < n; i++) {
    const marker = `hostile-${seed}-${i}`
    const headers = { [HOSTILE_HEADER]: marker }
    const command = (type: string, payload: unknown) =>
      packr.pack({ commandId: marker, type, payload }) as Buffer
    switch (i % 7) {
      case 0: {
        const bytes = Buffer.alloc(1 + Math.floor(random() * 2000))
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256)
        bytes[0] = 0xc1 // never valid msgpack, not JSON: the class is "random bytes", not "lucky bytes"
        out.push({
          key: marker,
          value: bytes,
          headers,
          kind: 'random-bytes',
          reasons: ['undecodable'],
          marker,
        })
        break
      }
      case 1: {
        const big = Buffer.alloc(900_000, 0x61)
        big[0] = 0xc1
        out.push({ key: marker, value: big, headers, kind: 'huge-value', reasons: ['undecodable'], marker })
        break
      }
      case 2:
        out.push({
          key: marker,
          value: deeplyNested(marker, 3000),
          headers,
          kind: 'deep-nesting',
          reasons: ['undecodable', 'invalid_envelope', 'invalid_payload'],
          marker,
        })
        break
      case 3:
        out.push({
          key: OFFSET_MARKER_KEY,
          value: command('CreateAccount', { owner: 'Mallory' }),
          headers,
          kind: 'reserved-key',
          reasons: ['reserved_key', 'invalid_key'],
          marker,
        })
        break
      case 4:
        out.push({
          key: Buffer.concat([Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(marker)]),
          value: command('CreateAccount', { owner: 'Mallory' }),
          headers,
          kind: 'non-utf8-key',
          reasons: ['invalid_key'],
          marker,
        })
        break
      case 5: {
        const id = `hostile-acc-${seed}-${i}`
        out.push({
          key: id,
          value: command('CreateAccount', { owner: 'Mallory' }),
          headers,
          partition: (partitionOf(id, partitions) + 1) % partitions,
          kind: 'misrouted',
          reasons: ['misrouted'],
          marker,
        })
        break
      }
      default:
        out.push({
          key: `${marker}-${'k'.repeat(100)}`,
          value: Buffer.from(JSON.stringify({ commandId: marker, type: 'Deposit', payload: null })),
          headers: { ...headers, 'content-type': 'application/json' },
          kind: 'null-payload',
          reasons: ['invalid_payload'],
          marker,
        })
    }
  }
  return out
}

export interface TransactionalTraffic {
  committed: string[]
  aborted: string[]
}

/**
 * Transactional producers writing to the commands topic: `rounds` rounds of two producers, each round one aborted
 * and one committed transaction interleaved on the same partitions (kafkajs' own read_committed filter mishandles
 * exactly this), each with a few CreateAccount commands of fresh aggregates; rounds are spread over ~1 s each.
 */
export async function sendTransactional(
  kafka: Kafka,
  t: Topology,
  seed: number,
  rounds: number,
): Promise<TransactionalTraffic> {
  const traffic: TransactionalTraffic = { committed: [], aborted: [] }
  const random = prng(seed ^ 0x7a)
  const producers = ['a', 'b'].map((name) =>
    kafka.producer({
      transactionalId: `hostile-${seed}-${name}-${Date.now()}`,
      idempotent: true,
      maxInFlightRequests: 1,
    }),
  )
  await Promise.all(producers.map((p) => p.connect()))
  try {
    for (let r = 0; r < rounds; r++) {
      const [first, second] = r % 2 === 0 ? producers : [producers[1]!, producers[0]!]
      const batch = (outcome: string) =>
        Array.from({ length: 3 }, (_, j) => {
          const id = `hostile-tx-${seed}-${r}-${outcome}-${j}`
          return {
            key: id,
            value: packr.pack({ commandId: id, type: 'CreateAccount', payload: { owner: id } }) as Buffer,
          }
        })
      const doomed = batch('abort')
      const kept = batch('commit')
      const tAbort = await first!.transaction()
      const tCommit = await second!.transaction()
      // One send per partition (a kafkajs multi-broker send can drop or duplicate records when it retries).
      for (const m of doomed) await tAbort.send({ topic: t.topics.commands, messages: [m] })
      for (const m of kept) await tCommit.send({ topic: t.topics.commands, messages: [m] })
      await tAbort.abort()
      await tCommit.commit()
      traffic.aborted.push(...doomed.map((m) => m.key))
      traffic.committed.push(...kept.map((m) => m.key))
      // Spread over the run, so transactions land among kills and rebalances.
      await new Promise((r) => setTimeout(r, 300 + Math.floor(random() * 1200)))
    }
  } finally {
    await Promise.all(producers.map((p) => p.disconnect().catch(() => undefined)))
  }
  return traffic
}

/**
 * One plain CreateAccount per partition after the transactional traffic. A partition whose log ends with an aborted
 * transaction has nothing left to commit an offset for, so the group's committed offset (what the verifier waits
 * on) would stay before it for ever, although the worker has passed it; a later command moves it on.
 */
export async function sendFlush(kafka: Kafka, t: Topology, seed: number): Promise<string[]> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const ids: string[] = []
  try {
    const n = t.definition.partitions
    for (let p = 0; p < n; p++) {
      let id = ''
      for (let k = 0; id === '' && k < 10_000; k++)
        if (partitionOf(`flush-${seed}-${k}`, n) === p) id = `flush-${seed}-${k}`
      const value = packr.pack({ commandId: id, type: 'CreateAccount', payload: { owner: id } }) as Buffer
      await producer.send({ topic: t.topics.commands, messages: [{ key: id, value, partition: p }] })
      ids.push(id)
    }
  } finally {
    await producer.disconnect().catch(() => undefined)
  }
  return ids
}

/**
 * f. Every hostile record is dead-lettered exactly once with a right reason; aborted transactional commands were
 * never processed; committed ones were answered exactly once, accepted.
 */
export async function verifyHostile(
  kafka: Kafka,
  t: Topology,
  hostile: HostileRecord[],
  traffic: TransactionalTraffic,
): Promise<string[]> {
  const problems: string[] = []
  // A chunk the sender had to send again is on the commands topic twice: each copy is dead-lettered.
  const copies = new Map<string, number>()
  for (const r of await readTopic(kafka, t.topics.commands, { raw: true })) {
    const marker = r.headers[HOSTILE_HEADER]
    if (marker !== undefined) copies.set(marker, (copies.get(marker) ?? 0) + 1)
  }
  const dlq = await readTopic(kafka, t.topics.deadLetters, { raw: true })
  const byMarker = new Map<string, string[]>()
  const txInDlq = new Set<string>()
  for (const r of dlq) {
    const marker = r.headers[HOSTILE_HEADER]
    if (marker !== undefined)
      byMarker.set(marker, [...(byMarker.get(marker) ?? []), r.headers['kd-error-code'] ?? '?'])
    const key = r.key === null ? '' : String(r.key)
    if (key.startsWith('hostile-tx-')) txInDlq.add(key)
  }
  for (const h of hostile) {
    const reasons = byMarker.get(h.marker) ?? []
    const sent = copies.get(h.marker) ?? 0
    if (sent === 0) problems.push(`hostile ${h.kind} ${h.marker}: not on the commands topic`)
    else if (reasons.length !== sent)
      problems.push(
        `hostile ${h.kind} ${h.marker}: on the commands topic ${sent} time(s), dead-lettered ${reasons.length}`,
      )
    else if (reasons.some((r) => !h.reasons.includes(r)))
      problems.push(
        `hostile ${h.kind} ${h.marker}: reason ${reasons.join(',')}, expected ${h.reasons.join(' or ')}`,
      )
  }
  const replies = await readTopic(kafka, t.topics.replies)
  const statuses = new Map<string, string[]>()
  for (const r of replies) {
    const v = r.value as { commandId?: unknown; status: string } | null
    if (typeof v?.commandId === 'string' && v.commandId.startsWith('hostile-tx-'))
      statuses.set(v.commandId, [...(statuses.get(v.commandId) ?? []), v.status])
  }
  for (const id of traffic.aborted) {
    if (statuses.has(id))
      problems.push(`aborted transactional command ${id} was processed (${statuses.get(id)!.join(',')})`)
    if (txInDlq.has(id)) problems.push(`aborted transactional command ${id} was dead-lettered`)
  }
  for (const id of traffic.committed) {
    const got = statuses.get(id) ?? []
    if (got.length !== 1 || got[0] !== 'accepted')
      problems.push(`committed transactional command ${id}: replies ${got.join(',') || 'none'}`)
  }
  return problems
}
