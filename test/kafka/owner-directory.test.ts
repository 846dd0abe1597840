/**
 * KafkaOwnerDirectory over a fake admin answering DescribeGroups: owners from the members' assignments and
 * userData, only from a Stable group, the cached view (time to live, invalidate, one refresh on a miss, one
 * DescribeGroups for concurrent misses), a bounded lookup.
 */
import { AssignerProtocol, type GroupDescription } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { encodeMemberEndpoint } from '../../src/kafka/advertising-assigner.ts'
import type { KafkaConnection } from '../../src/kafka/client.ts'
import { groupView, KafkaOwnerDirectory } from '../../src/kafka/owner-directory.ts'

const TOPIC = 'bank.commands'

function member(memberId: string, partitions: number[], url?: string, topic = TOPIC) {
  return {
    memberId,
    clientId: 'c',
    clientHost: '/127.0.0.1',
    memberMetadata: AssignerProtocol.MemberMetadata.encode({
      version: 0,
      topics: [topic],
      userData: encodeMemberEndpoint(url === undefined ? undefined : { http: url }),
    }),
    memberAssignment: AssignerProtocol.MemberAssignment.encode({
      version: 0,
      assignment: { [topic]: partitions },
      userData: Buffer.alloc(0),
    }),
  }
}

function group(state: string, members: ReturnType<typeof member>[]): GroupDescription {
  return {
    groupId: 'bank',
    members,
    protocol: 'RoundRobinAssigner',
    protocolType: 'consumer',
    state,
  } as GroupDescription
}

/** A fake kafkajs client whose admin answers DescribeGroups from `answer()`; counts the calls. */
function fakeKafka(answer: () => GroupDescription | Promise<GroupDescription>) {
  const calls = { describe: 0, connect: 0 }
  const kafka = {
    admin: () => ({
      connect: async () => void calls.connect++,
      disconnect: async () => undefined,
      describeGroups: async () => {
        calls.describe++
        return { groups: [await answer()] }
      },
    }),
  } as unknown as KafkaConnection
  return { kafka, calls }
}

const groups = [{ name: 'bank', groupId: 'bank', topic: TOPIC }]

describe('groupView', () => {
  it('maps partitions to members and their endpoints; members without userData have none', () => {
    const v = groupView(
      group('Stable', [
        member('a', [0, 2], 'http://a:1'),
        member('b', [1], undefined),
        member('c', [3], 'http://c:1', 'other'),
      ]),
      TOPIC,
    )
    expect(v.state).toBe('Stable')
    expect([...v.owners].sort(([x], [y]) => x - y)).toEqual([
      [0, { memberId: 'a', url: 'http://a:1' }],
      [1, { memberId: 'b', url: undefined }],
      [2, { memberId: 'a', url: 'http://a:1' }],
    ])
    expect(groupView(undefined, TOPIC).state).toBe('Dead')
  })

  it('a member mid-join (empty assignment) owns nothing', () => {
    const m = { ...member('a', [0], 'http://a:1'), memberAssignment: Buffer.alloc(0) }
    expect(groupView(group('CompletingRebalance', [m]), TOPIC).owners.size).toBe(0)
  })
})

describe('KafkaOwnerDirectory', () => {
  it('names the owner of a partition from a Stable group, and says why when it cannot', async () => {
    let g = group('Stable', [member('a', [0, 2], 'http://a:1'), member('b', [1], undefined)])
    const { kafka } = fakeKafka(() => g)
    const d = new KafkaOwnerDirectory(kafka, groups)
    expect(await d.ownerOf('bank', 0)).toEqual({ found: true, url: 'http://a:1', memberId: 'a' })
    expect(await d.ownerOf('bank', 1)).toMatchObject({ found: false, code: 'not_advertised' })
    expect(await d.ownerOf('bank', 5)).toMatchObject({ found: false, code: 'no_owner' })
    expect(await d.ownerOf('nope', 0)).toMatchObject({ found: false, code: 'no_owner' })
    g = group('PreparingRebalance', [member('a', [0, 1, 2], 'http://a:1')])
    d.invalidate('bank')
    const r = await d.ownerOf('bank', 0)
    expect(r).toMatchObject({ found: false, code: 'rebalancing' })
    expect(!r.found && r.reason).toContain('PreparingRebalance')
  })

  it('caches a Stable view for its time to live; invalidate and fresh ask again; a miss asks once more', async () => {
    let now = 0
    let g = group('Stable', [member('a', [0, 1], 'http://a:1')])
    const { kafka, calls } = fakeKafka(() => g)
    const d = new KafkaOwnerDirectory(kafka, groups, { ttlMs: 1000, now: () => now })
    await d.ownerOf('bank', 0)
    await d.ownerOf('bank', 1)
    expect(calls.describe).toBe(1)
    now = 999
    await d.ownerOf('bank', 0)
    expect(calls.describe).toBe(1)
    now = 1000
    await d.ownerOf('bank', 0)
    expect(calls.describe).toBe(2)
    d.invalidate('bank')
    await d.ownerOf('bank', 0)
    expect(calls.describe).toBe(3)
    await d.ownerOf('bank', 0, { fresh: true })
    expect(calls.describe).toBe(4)
    // The group moved on: partition 2 is not in the cached view, so it is looked up again once.
    g = group('Stable', [member('a', [0, 1], 'http://a:1'), member('b', [2], 'http://b:1')])
    expect(await d.ownerOf('bank', 2)).toMatchObject({ found: true, url: 'http://b:1' })
    expect(calls.describe).toBe(5)
    expect(calls.connect).toBe(1)
  })

  it('shares one DescribeGroups between concurrent lookups, and keeps no view of a group that is not Stable', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    let state = 'CompletingRebalance'
    const { kafka, calls } = fakeKafka(async () => {
      await gate
      return group(state, [member('a', [0, 1, 2], 'http://a:1')])
    })
    const d = new KafkaOwnerDirectory(kafka, groups)
    const all = Promise.all([0, 1, 2].map((p) => d.ownerOf('bank', p)))
    release()
    expect((await all).map((r) => r.found)).toEqual([false, false, false])
    expect(calls.describe).toBe(1)
    state = 'Stable'
    expect(await d.ownerOf('bank', 0)).toMatchObject({ found: true })
    expect(calls.describe).toBe(2)
  })

  it('a lookup that does not answer in time, or fails, is lookup_failed and not cached', async () => {
    let hang = true
    const { kafka, calls } = fakeKafka(() =>
      hang
        ? new Promise<GroupDescription>(() => undefined)
        : group('Stable', [member('a', [0], 'http://a:1')]),
    )
    const d = new KafkaOwnerDirectory(kafka, groups, { lookupTimeoutMs: 50 })
    const slow = await d.ownerOf('bank', 0)
    expect(slow).toMatchObject({ found: false, code: 'lookup_failed' })
    expect(!slow.found && slow.reason).toContain('no answer within 50 ms')
    hang = false
    expect(await d.ownerOf('bank', 0)).toMatchObject({ found: true })
    expect(calls.describe).toBe(2)
    const broken = new KafkaOwnerDirectory(
      {
        admin: () => ({ connect: () => Promise.reject(new Error('no broker')) }),
      } as unknown as KafkaConnection,
      groups,
    )
    expect(await broken.ownerOf('bank', 0)).toMatchObject({ found: false, code: 'lookup_failed' })
    await d.close()
  })
})
