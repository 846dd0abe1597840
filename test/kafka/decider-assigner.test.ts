import fc from 'fast-check'
import { AssignerProtocol } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import {
  decodeMemberState,
  deciderAssigner,
  encodeMemberState,
  planAssignment,
  standbysOf,
  type MemberState,
} from '../../src/kafka/decider-assigner.ts'
import { decodeMemberEndpoint } from '../../src/kafka/advertising-assigner.ts'

const P6 = [0, 1, 2, 3, 4, 5]
const state = (active: number[] = [], stores: Record<number, number> = {}): MemberState => ({
  active,
  stores: new Map(Object.entries(stores).map(([p, o]) => [Number(p), BigInt(o)])),
})
const plain = (plan: ReturnType<typeof planAssignment>) => Object.fromEntries(plan)

describe('planAssignment', () => {
  it('new group: balanced actives; each partition has its standby on the other member', () => {
    const plan = planAssignment(
      [
        { memberId: 'a', state: state() },
        { memberId: 'b', state: state() },
      ],
      P6,
      1,
    )
    expect(plan.get('a')!.active.length).toBe(3)
    expect(plan.get('b')!.active.length).toBe(3)
    expect(plan.get('a')!.standbys).toEqual(plan.get('b')!.active)
    expect(plan.get('b')!.standbys).toEqual(plan.get('a')!.active)
  })

  it('sticky: a third member takes one partition from each, the others keep the rest where they run', () => {
    const plan = planAssignment(
      [
        { memberId: 'a', state: state([0, 1, 2]) },
        { memberId: 'b', state: state([3, 4, 5]) },
        { memberId: 'c', state: state() },
      ],
      P6,
      0,
    )
    expect(plan.get('a')!.active).toEqual([0, 1])
    expect(plan.get('b')!.active).toEqual([3, 4])
    expect(plan.get('c')!.active).toEqual([2, 5])
  })

  it('a dead member’s partitions go to the member whose store of each is freshest', () => {
    // a died; b and c run 2 each and hold standbys of a's partitions at different offsets.
    const plan = planAssignment(
      [
        { memberId: 'b', state: state([2, 3], { 0: 900, 1: 10 }) },
        { memberId: 'c', state: state([4, 5], { 0: 800, 1: 950 }) },
      ],
      P6,
      1,
    )
    expect(plan.get('b')!.active).toEqual([0, 2, 3])
    expect(plan.get('c')!.active).toEqual([1, 4, 5])
    // Standbys: the other member, and a standby store stays where it is warm.
    expect(plan.get('b')!.standbys).toEqual([1, 4, 5])
    expect(plan.get('c')!.standbys).toEqual([0, 2, 3])
  })

  it('a restarted member (empty active list, stores on disk) gets back a free partition it holds a store of', () => {
    const plan = planAssignment(
      [
        { memberId: 'a', state: state([0, 1, 2]) },
        { memberId: 'z', state: state([], { 4: 500, 5: 400 }) },
      ],
      [0, 1, 2, 3, 4, 5],
      0,
    )
    // 3, 4, 5 are nobody's now: z takes them (3 because it has room), a keeps its own.
    expect(plain(plan)).toEqual({
      a: { active: [0, 1, 2], standbys: [] },
      z: { active: [3, 4, 5], standbys: [] },
    })
  })

  it('property: every partition has exactly one active, shares differ by at most one, standbys never beside their active', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 0, max: 3 }),
        fc.array(fc.tuple(fc.array(fc.nat(30)), fc.dictionary(fc.nat(30).map(String), fc.nat(1000))), {
          minLength: 5,
          maxLength: 5,
        }),
        (members, partitions, replicas, states) => {
          const ps = Array.from({ length: partitions }, (_, i) => i)
          const ms = Array.from({ length: members }, (_, i) => ({
            memberId: `m${i}`,
            state: state(states[i]![0], states[i]![1] as Record<number, number>),
          }))
          const plan = planAssignment(ms, ps, replicas)
          const actives = [...plan.values()].flatMap((m) => m.active).sort((a, b) => a - b)
          expect(actives).toEqual(ps)
          const counts = [...plan.values()].map((m) => m.active.length)
          expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1)
          for (const m of plan.values()) {
            expect(m.standbys.filter((p) => m.active.includes(p))).toEqual([])
            expect(new Set(m.standbys).size).toBe(m.standbys.length)
          }
          const replicasOf = (p: number) => [...plan.values()].filter((m) => m.standbys.includes(p)).length
          for (const p of ps) expect(replicasOf(p)).toBe(Math.min(replicas, members - 1))
        },
      ),
    )
  })
})

describe('the kafkajs assigner', () => {
  it('members say what they run and hold; the leader’s assignment carries each member’s standbys', async () => {
    const cluster = { findTopicPartitionMetadata: () => P6.map((partitionId) => ({ partitionId })) }
    const make = (http: string, s: MemberState) =>
      deciderAssigner({ endpoint: { http }, standbyReplicas: 1, state: () => s })({
        cluster,
        groupId: 'g',
        logger: undefined,
      } as never)
    const a = make('http://a:1', state([0, 1, 2], { 0: 10 }))
    const b = make('http://b:1', state([3, 4, 5]))
    const meta = (x: typeof a) => x.protocol({ topics: ['cmds'] }).metadata
    // The endpoint stays readable by the owner directory.
    const userData = AssignerProtocol.MemberMetadata.decode(meta(a))!.userData
    expect(decodeMemberEndpoint(userData)).toEqual({ http: 'http://a:1' })
    expect(decodeMemberState(userData)).toEqual(state([0, 1, 2], { 0: 10 }))
    const out = await a.assign({
      members: [
        { memberId: 'a', memberMetadata: meta(a) },
        { memberId: 'b', memberMetadata: meta(b) },
      ],
      topics: ['cmds'],
    })
    const byId = new Map(out.map((o) => [o.memberId, o.memberAssignment]))
    expect(AssignerProtocol.MemberAssignment.decode(byId.get('a')!)!.assignment).toEqual({ cmds: [0, 1, 2] })
    expect(standbysOf(byId.get('a')!)).toEqual([3, 4, 5])
    expect(standbysOf(byId.get('b')!)).toEqual([0, 1, 2])
  })

  it('ignores what it does not understand', () => {
    expect(decodeMemberState(Buffer.from('{"v":2}'))).toEqual(state())
    expect(decodeMemberState(Buffer.from('nonsense'))).toEqual(state())
    expect(encodeMemberState(undefined, state([1], { 1: 5 })).toString()).toBe(
      '{"v":1,"active":[1],"stores":{"1":"5"}}',
    )
  })
})
