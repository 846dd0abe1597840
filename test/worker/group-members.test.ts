/**
 * The group member record of a state dir (state/member-record.ts) and its use at start (worker/group-members.ts),
 * without a broker: what is recorded, that a second holder of the state dir neither reads nor records anything, and
 * that a failing removal only logs. The removal itself against the real broker: dead-member.int.test.ts.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { KafkaConnection } from '../../src/kafka/client.ts'
import { KafkaConsumerLoop } from '../../src/kafka/consumer-loop.ts'
import { MemberRecord, memberRecordDir } from '../../src/state/member-record.ts'
import { silentLogger } from '../../src/testing/memory-ports.ts'
import { GroupMembers } from '../../src/worker/group-members.ts'
import { FakeConsumer } from '../support/fake-kafkajs.ts'

const stateDir = () => mkdtempSync(path.join(tmpdir(), 'kd-members-'))

function capture() {
  const lines: { level: number; msg: string; memberId?: string }[] = []
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) })
  return { lines, logger }
}

describe('MemberRecord', () => {
  it('keeps the last member id of each group across a close and a reopen', async () => {
    const dir = memberRecordDir(stateDir(), 'bank')
    const a = (await MemberRecord.acquire(dir))!
    expect(await a.previous('bank')).toBeUndefined()
    await a.joined('bank', 'm-1')
    await a.joined('bank', 'm-2')
    await a.joined('other', 'x-1')
    await a.close()
    const b = (await MemberRecord.acquire(dir))!
    expect(await b.previous('bank')).toBe('m-2')
    expect(await b.previous('other')).toBe('x-1')
    await b.close()
  })

  it('is not given to a second holder while the first has it (LevelDB lock), and is after it closed', async () => {
    const dir = memberRecordDir(stateDir(), 'bank')
    const a = (await MemberRecord.acquire(dir))!
    await a.joined('bank', 'live')
    expect(await MemberRecord.acquire(dir)).toBeUndefined()
    await a.close()
    const b = await MemberRecord.acquire(dir)
    expect(await b!.previous('bank')).toBe('live')
    await b!.close()
  })
})

describe('GroupMembers', () => {
  it('a second worker on a held state dir: warns, removes nothing, records nothing', async () => {
    const dir = stateDir()
    const first = await GroupMembers.acquire({ stateDir: dir, name: 'bank', logger: silentLogger })
    first.recorder('bank')('live-member')
    const { lines, logger } = capture()
    const second = await GroupMembers.acquire({ stateDir: dir, name: 'bank', logger })
    expect(lines.map((l) => l.msg)).toEqual([expect.stringMatching(/another process holds this state dir/)])
    // Would throw if it tried: this "kafka" has no cluster to send a LeaveGroup with.
    await second.removeDead({} as KafkaConnection, ['bank'], 1000)
    second.recorder('bank')('second-member')
    await second.close()
    await first.close()
    const record = (await MemberRecord.acquire(memberRecordDir(dir, 'bank')))!
    expect(await record.previous('bank')).toBe('live-member')
    await record.close()
  })

  it('a removal that fails is logged and the start goes on (the member then times out, as without this)', async () => {
    const dir = stateDir()
    const record = (await MemberRecord.acquire(memberRecordDir(dir, 'bank')))!
    await record.joined('bank', 'dead-member')
    await record.close()
    const { lines, logger } = capture()
    const members = await GroupMembers.acquire({ stateDir: dir, name: 'bank', logger })
    await members.removeDead({} as KafkaConnection, ['bank', 'never-joined'], 1000)
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        memberId: 'dead-member',
        msg: expect.stringMatching(/could not remove the previous process's member/),
      }),
    ])
    await members.close()
  })

  it("the consumer loop hands each join's member id to the recorder", async () => {
    const consumer = new FakeConsumer()
    const joined: string[] = []
    const loop = new KafkaConsumerLoop({
      kafka: consumer.asKafka(),
      groupId: 'g',
      topic: 't',
      partitions: 1,
      maxBytesPerPartition: 1024,
      sessionTimeoutMs: 30_000,
      heartbeatIntervalMs: 3000,
      rebalanceTimeoutMs: 60_000,
      logger: silentLogger,
      onJoined: (id) => joined.push(id),
    })
    await loop.start({
      assigned: () => undefined,
      handleBatch: async () => undefined,
      position: () => undefined,
      groupLost: () => undefined,
    })
    consumer.emit(consumer.events.GROUP_JOIN, { memberId: 'm-1', memberAssignment: { t: [0] } })
    consumer.emit(consumer.events.GROUP_JOIN, { memberId: 'm-2', memberAssignment: { t: [0] } })
    expect(joined).toEqual(['m-1', 'm-2'])
  })
})
