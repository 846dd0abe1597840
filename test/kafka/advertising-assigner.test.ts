/**
 * The assigner wrapper over synthetic groups: same protocol name and version as kafkajs' round robin, the same
 * assignment for any member list, and member metadata that differs only by the endpoint in userData.
 */
import { AssignerProtocol, PartitionAssigners, type PartitionAssigner } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import {
  advertisingAssigner,
  decodeMemberEndpoint,
  encodeMemberEndpoint,
} from '../../src/kafka/advertising-assigner.ts'

/** The slice of kafkajs' cluster an assigner reads: the partitions of each topic. */
function config(partitions: Record<string, number>) {
  const cluster = {
    findTopicPartitionMetadata: (topic: string) =>
      Array.from({ length: partitions[topic] ?? 0 }, (_, partitionId) => ({ partitionId })),
  }
  return { cluster, groupId: 'g', logger: {} } as unknown as Parameters<PartitionAssigner>[0]
}

const decoded = (a: { memberId: string; memberAssignment: Buffer }[]) =>
  Object.fromEntries(
    a.map((m) => [m.memberId, AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment]),
  )

describe('advertisingAssigner', () => {
  const cfg = config({ commands: 6, other: 3 })
  const plain = PartitionAssigners.roundRobin(cfg)
  const advertising = advertisingAssigner({ http: 'http://10.0.0.7:9464' })(cfg)

  it("keeps the round robin's protocol name and version", () => {
    expect(advertising.name).toBe(plain.name)
    expect(advertising.name).toBe('RoundRobinAssigner')
    expect(advertising.version).toBe(plain.version)
    expect(advertising.protocol({ topics: ['commands'] }).name).toBe(
      plain.protocol({ topics: ['commands'] }).name,
    )
  })

  it('assigns exactly as the round robin, for one to seven members and two topics', async () => {
    for (let n = 1; n <= 7; n++) {
      const members = Array.from({ length: n }, (_, i) => ({
        memberId: `m-${(n * 7 + i * 13) % 17}-${i}`,
        memberMetadata: advertising.protocol({ topics: ['commands', 'other'] }).metadata,
      }))
      const group = { members, topics: ['commands', 'other'] }
      const mine = decoded(await advertising.assign(group))
      expect(mine).toEqual(decoded(await plain.assign(group)))
      const all = Object.values(mine).flatMap((a) => a?.commands ?? [])
      expect(all.sort()).toEqual([0, 1, 2, 3, 4, 5])
    }
  })

  it('adds the endpoint as userData and nothing else to the member metadata', () => {
    const mine = AssignerProtocol.MemberMetadata.decode(
      advertising.protocol({ topics: ['commands'] }).metadata,
    )
    const theirs = AssignerProtocol.MemberMetadata.decode(plain.protocol({ topics: ['commands'] }).metadata)
    expect(mine).toMatchObject({ version: theirs!.version, topics: ['commands'] })
    expect(theirs!.userData.length).toBe(0)
    expect(JSON.parse(mine!.userData.toString())).toEqual({ v: 1, http: 'http://10.0.0.7:9464' })
    expect(decodeMemberEndpoint(mine!.userData)).toEqual({ http: 'http://10.0.0.7:9464' })
  })

  it('without an endpoint the metadata is byte for byte the round robin one', () => {
    const silent = advertisingAssigner(undefined)(cfg)
    expect(silent.protocol({ topics: ['commands'] }).metadata).toEqual(
      plain.protocol({ topics: ['commands'] }).metadata,
    )
  })

  it('reads no endpoint from empty, foreign or malformed userData', () => {
    expect(decodeMemberEndpoint(undefined)).toBeUndefined()
    expect(decodeMemberEndpoint(null)).toBeUndefined()
    expect(decodeMemberEndpoint(Buffer.alloc(0))).toBeUndefined()
    expect(decodeMemberEndpoint(Buffer.from([0x81, 0xa1, 0x00]))).toBeUndefined() // not JSON
    expect(decodeMemberEndpoint(Buffer.from('{"v":2,"http":"http://x:1"}'))).toBeUndefined() // unknown version
    expect(decodeMemberEndpoint(Buffer.from('{"v":1,"http":""}'))).toBeUndefined()
    expect(decodeMemberEndpoint(encodeMemberEndpoint({ http: 'https://w:1' }))).toEqual({
      http: 'https://w:1',
    })
    expect(encodeMemberEndpoint(undefined).length).toBe(0)
  })
})
