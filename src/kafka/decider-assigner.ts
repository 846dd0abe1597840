/**
 * The group's partition assigner (protocol `kafka-decider`): places active tasks and standby replicas together,
 * from what every member says in its subscription metadata (userData, UTF-8 JSON):
 *
 *   { "v": 1, "http": "<advertised url>"?, "active": [partitions it runs now], "stores": { "<p>": "<offset>" } }
 *
 * `stores` gives, per partition whose store this member has on disk (a task's, a standby's, or one left from
 * before), how far it is: its checkpoint's changelog offset. The leader (planAssignment) then
 *   1. keeps each member's active partitions where they are (sticky), within a balanced share;
 *   2. gives every other partition to the member with the freshest store of it (the KIP-441 idea: a caught-up
 *      standby takes over with a delta to replay, not a full restore), among members with room;
 *   3. places `standbyReplicas` standbys per partition on other members, freshest store first, balanced.
 * Each member's assignment carries its standbys in the assignment's userData (`{"v":1,"standbys":[...]}`).
 * kafkajs hands a member only its topic assignment, so members read their standbys back with DescribeGroups
 * (standbysOf).
 *
 * The worker lists this assigner before the round robin one (advertising-assigner.ts): a group of workers that all
 * know it uses it; a group with an older worker in it falls back to round robin, without standbys.
 */
import { AssignerProtocol, type PartitionAssigner } from 'kafkajs'
import type { MemberEndpoint } from './advertising-assigner.ts'

export const DECIDER_PROTOCOL = 'kafka-decider'

/** What a member says of itself when it joins. */
export interface MemberState {
  active: readonly number[]
  /** Changelog checkpoint offset of each partition store this member holds. */
  stores: ReadonlyMap<number, bigint>
}

export interface PlannedMember {
  memberId: string
  state: MemberState
}

export interface MemberPlan {
  active: number[]
  standbys: number[]
}

/** The assignment of `partitions` (a topic's, 0..n-1) over `members`; pure, deterministic. */
export function planAssignment(
  members: readonly PlannedMember[],
  partitions: readonly number[],
  standbyReplicas: number,
): Map<string, MemberPlan> {
  const ms = [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0))
  const plan = new Map<string, MemberPlan>(ms.map((m) => [m.memberId, { active: [], standbys: [] }]))
  if (ms.length === 0) return plan
  const base = Math.floor(partitions.length / ms.length)
  let plusOneSlots = partitions.length % ms.length
  const owner = new Map<number, string>()
  const count = (id: string) => plan.get(id)!.active.length
  const hasRoom = (id: string) => count(id) < base || (count(id) === base && plusOneSlots > 0)
  const give = (id: string, p: number) => {
    if (count(id) === base) plusOneSlots--
    plan.get(id)!.active.push(p)
    owner.set(p, id)
  }
  const known = new Set(partitions)
  const offsetOf = (m: PlannedMember, p: number) => m.state.stores.get(p) ?? -1n

  // 1. Sticky: members that are below their share first, so one member's long list does not take every +1 slot.
  for (const m of ms)
    for (const p of [...m.state.active].sort((a, b) => a - b))
      if (known.has(p) && !owner.has(p) && count(m.memberId) < base) give(m.memberId, p)
  for (const m of ms)
    for (const p of [...m.state.active].sort((a, b) => a - b))
      if (known.has(p) && !owner.has(p) && hasRoom(m.memberId)) give(m.memberId, p)

  // 2. The rest: the freshest store among members with room; then the fewest tasks; then member order.
  for (const p of partitions) {
    if (owner.has(p)) continue
    let best: PlannedMember | undefined
    for (const m of ms) {
      if (!hasRoom(m.memberId)) continue
      if (best === undefined) {
        best = m
        continue
      }
      const d = offsetOf(m, p) - offsetOf(best, p)
      if (d > 0n || (d === 0n && count(m.memberId) < count(best.memberId))) best = m
    }
    give(best!.memberId, p)
  }

  // 3. Standbys: on other members, freshest store first, at most an even share each.
  const replicas = Math.min(Math.max(0, standbyReplicas), ms.length - 1)
  const share = Math.ceil((partitions.length * replicas) / ms.length)
  const standbys = (id: string) => plan.get(id)!.standbys.length
  for (let r = 0; r < replicas; r++) {
    for (const p of partitions) {
      let best: PlannedMember | undefined
      for (const m of ms) {
        const mine = plan.get(m.memberId)!
        if (owner.get(p) === m.memberId || mine.standbys.includes(p)) continue
        if (best === undefined) {
          best = m
          continue
        }
        const roomM = standbys(m.memberId) < share
        const roomBest = standbys(best.memberId) < share
        if (roomM !== roomBest) {
          if (roomM) best = m
          continue
        }
        const d = offsetOf(m, p) - offsetOf(best, p)
        if (d > 0n || (d === 0n && standbys(m.memberId) < standbys(best.memberId))) best = m
      }
      if (best !== undefined) plan.get(best.memberId)!.standbys.push(p)
    }
  }
  for (const m of plan.values()) {
    m.active.sort((a, b) => a - b)
    m.standbys.sort((a, b) => a - b)
  }
  return plan
}

export function encodeMemberState(endpoint: MemberEndpoint | undefined, state: MemberState): Buffer {
  const stores: Record<string, string> = {}
  for (const [p, offset] of state.stores) stores[String(p)] = offset.toString()
  return Buffer.from(
    JSON.stringify({
      v: 1,
      ...(endpoint === undefined ? {} : { http: endpoint.http }),
      active: [...state.active],
      stores,
    }),
  )
}

/** A member's state from its userData; empty for a member that says nothing we understand. */
export function decodeMemberState(userData: Buffer | null | undefined): MemberState {
  const empty: MemberState = { active: [], stores: new Map() }
  if (!userData || userData.length === 0) return empty
  try {
    const v = JSON.parse(userData.toString('utf8')) as { v?: unknown; active?: unknown; stores?: unknown }
    if (v.v !== 1) return empty
    const active = Array.isArray(v.active) ? v.active.filter((p): p is number => Number.isInteger(p)) : []
    const stores = new Map<number, bigint>()
    if (v.stores !== null && typeof v.stores === 'object')
      for (const [p, o] of Object.entries(v.stores as Record<string, unknown>))
        if (/^\d+$/.test(p) && typeof o === 'string' && /^\d+$/.test(o)) stores.set(Number(p), BigInt(o))
    return { active, stores }
  } catch {
    return empty
  }
}

/** The standbys in a member's assignment userData (empty when there are none or the bytes are not ours). */
export function decodeStandbys(userData: Buffer | null | undefined): number[] {
  if (!userData || userData.length === 0) return []
  try {
    const v = JSON.parse(userData.toString('utf8')) as { v?: unknown; standbys?: unknown }
    if (v.v !== 1 || !Array.isArray(v.standbys)) return []
    return v.standbys.filter((p): p is number => Number.isInteger(p) && p >= 0)
  } catch {
    return []
  }
}

/** Standbys of `memberId` from a DescribeGroups member's assignment bytes. */
export function standbysOf(memberAssignment: Buffer): number[] {
  const decoded = AssignerProtocol.MemberAssignment.decode(memberAssignment)
  return decodeStandbys(decoded?.userData)
}

export interface DeciderAssignerOptions {
  endpoint: MemberEndpoint | undefined
  standbyReplicas: number
  /** Read at every join: what this member runs and which stores it holds. */
  state(): MemberState
}

export function deciderAssigner(o: DeciderAssignerOptions): PartitionAssigner {
  return ({ cluster }) => ({
    name: DECIDER_PROTOCOL,
    version: 1,
    protocol: ({ topics }) => ({
      name: DECIDER_PROTOCOL,
      metadata: AssignerProtocol.MemberMetadata.encode({
        version: 1,
        topics,
        userData: encodeMemberState(o.endpoint, o.state()),
      }),
    }),
    assign: async ({ members, topics }) => {
      const planned: PlannedMember[] = members.map((m) => ({
        memberId: m.memberId,
        state: decodeMemberState(AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.userData),
      }))
      // One topic per consumer (the commands or repartition topic); planned per topic all the same.
      const perTopic = topics.map((topic) => {
        const partitions = cluster
          .findTopicPartitionMetadata(topic)
          .map((m) => m.partitionId)
          .sort((a, b) => a - b)
        return { topic, plan: planAssignment(planned, partitions, o.standbyReplicas) }
      })
      return members.map((m) => {
        const assignment: Record<string, number[]> = {}
        const standbys = new Set<number>()
        for (const { topic, plan } of perTopic) {
          const mine = plan.get(m.memberId)!
          assignment[topic] = mine.active
          for (const p of mine.standbys) standbys.add(p)
        }
        return {
          memberId: m.memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({
            version: 1,
            assignment,
            userData: Buffer.from(JSON.stringify({ v: 1, standbys: [...standbys] })),
          }),
        }
      })
    },
  })
}
