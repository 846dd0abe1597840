/**
 * A worker SIGKILLed and restarted on its state dir joins its group at once: the new process has the coordinator
 * remove the member the killed one left (recorded in the state dir, worker/group-members.ts) instead of waiting for
 * that member's session to time out. The session timeout here is 30 s, so a restart that waited for it could not be
 * running within the 20 s these tests allow. And a worker that does not hold the state dir removes no one.
 */
import { rmSync } from 'node:fs'
import type { Admin } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { leaveAsMember } from '../../src/kafka/dead-member.ts'
import { MemberRecord, memberRecordDir } from '../../src/state/member-record.ts'
import { writeProjection } from '../../scripts/eos/projection-check.ts'
import { spawnWorker, tempDir, waitForLog, writeBankTopology, type WorkerProcess } from '../support/eos.ts'
import { newKafka } from '../support/kafka.ts'

const SESSION = { DECIDER_SESSION_TIMEOUT_MS: '30000' }
const kafka = newKafka('dead-member-test')
let admin: Admin
const started: WorkerProcess[] = []
const dirs: string[] = []

beforeAll(async () => {
  admin = kafka.admin()
  await admin.connect()
})
afterAll(async () => {
  for (const w of started.splice(0)) {
    w.kill('SIGKILL')
    await w.exited
  }
  await admin.disconnect()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function setup(prefix: string, o: { projection?: boolean } = {}) {
  const dir = tempDir(prefix)
  dirs.push(dir)
  const name = `${prefix}-${Date.now()}`
  const file = writeBankTopology(dir, name)
  const files = o.projection ? [file, writeProjection(dir, `${name}-views`, file)] : [file]
  const spawn = () => {
    const w = spawnWorker(files, `${dir}/state`, SESSION)
    started.push(w)
    return w
  }
  return { name, stateDir: `${dir}/state`, spawn }
}

async function memberIds(group: string): Promise<string[]> {
  const { groups } = await admin.describeGroups([group])
  return groups[0]!.members.map((m) => m.memberId)
}

/** Polls (bounded) until the group's members satisfy `ok`; returns them. */
async function membersWhen(
  group: string,
  ok: (ids: string[]) => boolean,
  timeoutMs: number,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs
  let ids = await memberIds(group)
  while (!ok(ids) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200))
    ids = await memberIds(group)
  }
  return ids
}

describe('restart after SIGKILL on the same state dir', () => {
  it("removes the killed process's member before joining: the new one is the only member, well within the session timeout", async () => {
    const { name, stateDir, spawn } = setup('dead-member')
    const first = spawn()
    await waitForLog(first, /task running/, 6, 90_000)
    const [dead, ...others] = await memberIds(name)
    expect(others).toEqual([])
    first.kill('SIGKILL')
    await first.exited

    const second = spawn()
    // 20 s < the 30 s session timeout: a join that waited for the dead member to expire would not be done yet.
    await waitForLog(second, /task running/, 6, 20_000)
    const ids = await memberIds(name)
    expect(ids).toHaveLength(1)
    expect(ids[0]).not.toBe(dead)
    const removed = second
      .output()
      .split('\n')
      .find((l) => l.includes("removed the previous process's member"))
    expect(JSON.parse(removed!)).toMatchObject({ groupId: name, memberId: dead, outcome: 'removed' })

    // Gone already: a second removal is told so, and is no error.
    expect(await leaveAsMember(kafka, name, dead!, 10_000)).toBe('unknown')
    expect(await memberIds(name)).toEqual(ids)

    // The new process recorded its own member id for the next restart.
    second.kill('SIGKILL')
    await second.exited
    const record = (await MemberRecord.acquire(memberRecordDir(stateDir, name)))!
    expect(await record.previous(name)).toBe(ids[0])
    await record.close()
  })

  it("a second worker on a live worker's state dir does not remove the live worker's member", async () => {
    const { name, spawn } = setup('live-member')
    const live = spawn()
    await waitForLog(live, /task running/, 6, 90_000)
    const [member] = await memberIds(name)
    const intruder = spawn()
    await waitForLog(intruder, /another process holds this state dir/, 1, 60_000)
    // Both in the group once the rebalance the intruder started is done; the live member kept its id.
    const ids = await membersWhen(name, (m) => m.length === 2, 30_000)
    expect(ids).toHaveLength(2)
    expect(ids).toContain(member)
    expect(intruder.output()).not.toMatch(/previous process's member/)
  })

  it('a worker with a projection: the dead members of the projection and router groups go too', async () => {
    const { name, spawn } = setup('dead-views', { projection: true })
    const groups = [name, `${name}-views`, `${name}-views.route.${name}.events`]
    const first = spawn()
    await waitForLog(first, /worker ready/, 1, 90_000)
    const dead = await Promise.all(groups.map(memberIds))
    expect(dead.map((ids) => ids.length)).toEqual([1, 1, 1])
    first.kill('SIGKILL')
    await first.exited

    const second = spawn()
    await waitForLog(second, /worker ready/, 1, 20_000) // < the 30 s session timeout, as above
    for (const [i, group] of groups.entries()) {
      const ids = await memberIds(group)
      expect(ids, group).toHaveLength(1)
      expect(ids[0], group).not.toBe(dead[i]![0])
    }
  })
})
