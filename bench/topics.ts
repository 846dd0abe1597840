/** Workload and topics of the bench: the bank commands, topic creation, producing, end and committed offsets. */
import type { Admin, Message, Producer } from 'kafkajs'
import { ensureTopics } from '../src/kafka/topics.ts'
import { loadTopology, type Topology } from '../src/topology/loader.ts'
import { writeBankTopology, type Cmd } from '../scripts/eos/bank.ts'
import { sleep } from './util.ts'

/** Fast deterministic bank workload: every account is created, then deposits (70%) and withdrawals (30%). */
export function bankCommands(accounts: number, count: number, seed: number): Cmd[] {
  let s = seed >>> 0
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 2 ** 32)
  const cmds: Cmd[] = []
  const n = Math.min(accounts, count)
  for (let a = 0; a < n; a++)
    cmds.push({
      aggregateId: `acc-${a}`,
      commandId: `b-${seed}-${cmds.length}`,
      type: 'CreateAccount',
      payload: { owner: `owner ${a}` },
    })
  while (cmds.length < count) {
    const a = Math.floor(rnd() * n)
    const type = rnd() < 0.7 ? 'Deposit' : 'Withdraw'
    cmds.push({
      aggregateId: `acc-${a}`,
      commandId: `b-${seed}-${cmds.length}`,
      type,
      payload: { amount: 1 + Math.floor(rnd() * 100) },
    })
  }
  return cmds
}

export async function createTopics(admin: Admin, topics: string[], partitions = 6): Promise<void> {
  await admin.createTopics({
    waitForLeaders: false,
    topics: topics.map((topic) => ({ topic, numPartitions: partitions })),
  })
  for (let i = 0; i < 150; i++) {
    try {
      const meta = await admin.fetchTopicMetadata({ topics })
      if (
        meta.topics.length === topics.length &&
        meta.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))
      )
        return
    } catch {
      // not there yet
    }
    await sleep(200)
  }
  throw new Error(`topics ${topics.join(', ')} have no leaders after 30 s`)
}

/** Sends messages in chunks with a few requests in flight (bounded by the number of chunks). */
export async function produceAll(
  producer: Producer,
  topic: string,
  messages: Message[],
  chunk = 5000,
  inFlight = 4,
): Promise<void> {
  const pending = new Set<Promise<unknown>>()
  for (let i = 0; i < messages.length; i += chunk) {
    const p = producer
      .send({ topic, messages: messages.slice(i, i + chunk) })
      .finally(() => pending.delete(p))
    pending.add(p)
    if (pending.size >= inFlight) await Promise.race(pending)
  }
  await Promise.all(pending)
}

export async function topicEnd(admin: Admin, topic: string): Promise<number> {
  const offs = await admin.fetchTopicOffsets(topic)
  return offs.reduce((a, p) => a + Number(p.high), 0)
}

/**
 * The group's committed offsets of `topic`, summed (none: 0). A retriable error (a broker that has just started
 * answers NOT_COORDINATOR while it creates the offsets topic) is tried again, up to 50 times 200 ms apart.
 */
export async function committedSum(admin: Admin, groupId: string, topic: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await admin.fetchOffsets({ groupId, topics: [topic] })
      return (res[0]?.partitions ?? []).reduce((a, p) => a + Math.max(0, Number(p.offset)), 0)
    } catch (e) {
      if (attempt >= 50 || (e as { retriable?: unknown }).retriable !== true) throw e
      await sleep(200)
    }
  }
}

// Extra topology YAML of every bench topology (the dedupe window of the run); runBench sets it. A phase can add
// YAML of its own (prepareTopology's `extra`: other top-level keys).
let topologyExtra = ''
let topologyPartitions = 6

export function setTopologyExtra(extra: string, partitions = 6): void {
  topologyExtra = extra
  topologyPartitions = partitions
}

export async function prepareTopology(
  admin: Admin,
  dir: string,
  name: string,
  extra = '',
): Promise<{ file: string; topology: Topology }> {
  const file = writeBankTopology(dir, name, topologyExtra + extra, topologyPartitions)
  const topology = await loadTopology(file)
  await ensureTopics(admin, topology, { create: true })
  return { file, topology }
}
