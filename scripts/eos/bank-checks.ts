/** The check of a bank run's outputs against the reference model of its input (read_committed). */
import type { Kafka } from 'kafkajs'
import { inputCommands, readTopic } from './read-topic.ts'
import { referenceModel, type Cmd } from './workload.ts'

export interface Verification {
  problems: string[]
  replies: number
  events: number
  /** Command records the producer wrote more than once (its retries): judged as input like any other. */
  producerDuplicates: number
}

/**
 * The guarantees: one reply per input record with the status the model predicts (replies per commandId are
 * matched in order), contiguous event versions 1..n per aggregate with no duplicate eventId, the last
 * changelog snapshot equal to the model and to the fold of the events.
 */
export async function verifyBankRun(
  kafka: Kafka,
  topics: { commands: string; replies: string; events: string; changelog: string },
  cmds: Cmd[],
): Promise<Verification> {
  const problems: string[] = []
  const input = await inputCommands(kafka, topics.commands, cmds)
  const sentCount = new Map<string, number>()
  for (const c of cmds) sentCount.set(c.commandId, (sentCount.get(c.commandId) ?? 0) + 1)
  const inputCount = new Map<string, number>()
  for (const c of input) inputCount.set(c.commandId, (inputCount.get(c.commandId) ?? 0) + 1)
  let producerDuplicates = 0
  for (const [id, n] of sentCount) {
    const got = inputCount.get(id) ?? 0
    if (got < n) problems.push(`command ${id}: sent ${n} times but ${got} on the commands topic`)
    else producerDuplicates += got - n
  }
  const expected = referenceModel(input)
  const replies = await readTopic(kafka, topics.replies)
  const repliesPartitions =
    new Set(replies.map((r) => r.partition)).size > 0 ? await partitionCount(kafka, topics.replies) : 0
  const byId = new Map<string, string[]>()
  for (const r of replies) {
    // A reply is on its command's input partition (modulo the replies topic's count), not on its key's.
    const source = r.headers['kd-source-partition']
    if (source !== undefined && r.partition !== Number(source) % repliesPartitions)
      problems.push(
        `reply at ${topics.replies}[${r.partition}]@${r.offset}: its command is on partition ${source}`,
      )
    const v = r.value as { commandId: string; status: string }
    const list = byId.get(v.commandId) ?? []
    list.push(v.status)
    byId.set(v.commandId, list)
  }
  const expectedById = new Map<string, string[]>()
  input.forEach((c, i) => {
    const list = expectedById.get(c.commandId) ?? []
    list.push(expected.statuses[i]!)
    expectedById.set(c.commandId, list)
  })
  for (const [id, exp] of expectedById) {
    const got = byId.get(id) ?? []
    if (got.length !== exp.length)
      problems.push(
        `command ${id}: ${got.length} replies (${got.join(',')}), expected ${exp.length} (${exp.join(',')})`,
      )
    else if (got.join(',') !== exp.join(','))
      problems.push(`command ${id}: statuses ${got.join(',')}, expected ${exp.join(',')}`)
  }
  // Replies to commands of other tests in the same topology (ids not from bankWorkload) are not ours to judge.
  for (const id of byId.keys())
    if (!expectedById.has(id) && id.startsWith('c-')) problems.push(`reply for unknown command ${id}`)

  const events = await readTopic(kafka, topics.events)
  const perAgg = new Map<string, { version: number; type: string; payload: { amount?: number } }[]>()
  const eventIds = new Set<string>()
  for (const e of events) {
    const v = e.value as {
      eventId: string
      aggregateId: string
      version: number
      type: string
      payload: { amount?: number }
    }
    if (eventIds.has(v.eventId)) problems.push(`duplicate eventId ${v.eventId}`)
    eventIds.add(v.eventId)
    const list = perAgg.get(v.aggregateId) ?? []
    list.push(v)
    perAgg.set(v.aggregateId, list)
  }
  for (const [agg, version] of expected.versions) {
    const list = perAgg.get(agg) ?? []
    const versions = list.map((e) => e.version)
    const contiguous = versions.every((v, i) => v === i + 1)
    if (!contiguous || versions.length !== version)
      problems.push(
        `aggregate ${agg}: event versions [${versions.slice(0, 20).join(',')}${versions.length > 20 ? ',…' : ''}], expected 1..${version}`,
      )
    const folded = list.reduce(
      (b, e) =>
        e.type === 'MoneyDeposited'
          ? b + e.payload.amount!
          : e.type === 'MoneyWithdrawn'
            ? b - e.payload.amount!
            : b,
      0,
    )
    if (folded !== expected.balances.get(agg))
      problems.push(`aggregate ${agg}: fold(events) balance ${folded}, model ${expected.balances.get(agg)}`)
  }

  const changelog = await readTopic(kafka, topics.changelog)
  const last = new Map<string, { version: number; state: { balance: number } }>()
  for (const r of changelog)
    if (r.key && !r.key.startsWith('\u0000'))
      last.set(r.key, r.value as { version: number; state: { balance: number } })
  for (const [agg, version] of expected.versions) {
    const s = last.get(agg)
    if (version === 0) continue
    if (!s) problems.push(`aggregate ${agg}: no snapshot in the changelog`)
    else if (s.version !== version || s.state.balance !== expected.balances.get(agg)) {
      problems.push(
        `aggregate ${agg}: snapshot v${s.version} balance ${s.state.balance}, model v${version} balance ${expected.balances.get(agg)}`,
      )
    }
  }
  return { problems, replies: replies.length, events: events.length, producerDuplicates }
}

async function partitionCount(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] })
    return meta.topics[0]!.partitions.length
  } finally {
    await admin.disconnect()
  }
}
