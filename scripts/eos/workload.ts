/** The bank-account workload of the verifier and the tests: commands, an independent reference model, a sender. */
import type { Kafka } from 'kafkajs'
import { Packr } from 'msgpackr'

const packr = new Packr({ useRecords: false, mapsAsObjects: true })

export interface Cmd {
  aggregateId: string
  commandId: string
  type: 'CreateAccount' | 'Deposit' | 'Withdraw'
  payload: Record<string, unknown>
  expectedVersion?: number
}

/** Deterministic workload: creates, deposits, withdrawals (some overdrafts), re-sent commandIds, stale versions. */
export function bankWorkload(seed: number, accounts: number, count: number): Cmd[] {
  let s = seed >>> 0
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 2 ** 32)
  const cmds: Cmd[] = []
  for (let a = 0; a < accounts; a++)
    cmds.push({
      aggregateId: `acc-${seed}-${a}`,
      commandId: `c-${seed}-${cmds.length}`,
      type: 'CreateAccount',
      payload: { owner: `owner ${a}` },
    })
  while (cmds.length < count) {
    const a = Math.floor(rnd() * accounts)
    const r = rnd()
    const id = `c-${seed}-${cmds.length}`
    const aggregateId = `acc-${seed}-${a}`
    if (r < 0.05 && cmds.length > accounts) {
      // re-send an earlier command of the same aggregate (same commandId)
      const earlier = cmds.filter((c) => c.aggregateId === aggregateId && !c.commandId.includes('dup'))
      const e = earlier[earlier.length - 1]!
      cmds.push({ ...e })
    } else if (r < 0.08) {
      cmds.push({ aggregateId, commandId: id, type: 'Deposit', payload: { amount: 1 }, expectedVersion: 0 }) // stale
    } else if (r < 0.55) {
      cmds.push({
        aggregateId,
        commandId: id,
        type: 'Deposit',
        payload: { amount: 1 + Math.floor(rnd() * 100) },
      })
    } else {
      cmds.push({
        aggregateId,
        commandId: id,
        type: 'Withdraw',
        payload: { amount: 1 + Math.floor(rnd() * 150) },
      })
    }
  }
  return cmds
}

export interface Expected {
  /** Per input record, in send order. */
  statuses: string[]
  balances: Map<string, number>
  versions: Map<string, number>
}

/** Independent reference model of bank-account (not the decider's code). */
export function referenceModel(cmds: Cmd[]): Expected {
  const acc = new Map<
    string,
    { open: boolean; balance: number; version: number; seen: Map<string, string> }
  >()
  const statuses: string[] = []
  for (const c of cmds) {
    const a = acc.get(c.aggregateId) ?? { open: false, balance: 0, version: 0, seen: new Map() }
    acc.set(c.aggregateId, a)
    if (a.seen.has(c.commandId)) {
      statuses.push('duplicate')
      continue
    }
    if (c.expectedVersion !== undefined && c.expectedVersion !== a.version) {
      statuses.push('conflict')
      continue
    }
    let st = 'accepted'
    const amount = Number(c.payload.amount ?? 0)
    if (c.type === 'CreateAccount') {
      if (a.open) st = 'rejected'
      else {
        a.open = true
        a.version++
      }
    } else if (!a.open) st = 'rejected'
    else if (c.type === 'Deposit') {
      a.balance += amount
      a.version++
    } else if (amount > a.balance) st = 'rejected'
    else {
      a.balance -= amount
      a.version++
    }
    a.seen.set(c.commandId, st)
    statuses.push(st)
  }
  return {
    statuses,
    balances: new Map([...acc].map(([k, v]) => [k, v.balance])),
    versions: new Map([...acc].map(([k, v]) => [k, v.version])),
  }
}

export function encodeCommand(c: Cmd): { key: string; value: Buffer; headers: Record<string, string> } {
  const envelope = {
    commandId: c.commandId,
    type: c.type,
    payload: c.payload,
    ...(c.expectedVersion !== undefined ? { expectedVersion: c.expectedVersion } : {}),
  }
  return {
    key: c.aggregateId,
    value: packr.pack(envelope),
    headers: { 'content-type': 'application/msgpack' },
  }
}

export async function sendCommands(
  kafka: Kafka,
  topic: string,
  cmds: Cmd[],
  opts: { chunk?: number; pauseMs?: number } = {},
): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  try {
    const chunk = opts.chunk ?? 500
    for (let i = 0; i < cmds.length; i += chunk) {
      await producer.send({ topic, messages: cmds.slice(i, i + chunk).map(encodeCommand) })
      if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs))
    }
  } finally {
    await producer.disconnect()
  }
}
