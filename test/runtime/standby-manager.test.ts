import { describe, expect, it } from 'vitest'
import { StandbyManager, type StandbyTask } from '../../src/runtime/standby-task.ts'

/** A standby that records what happened to it. */
function fakeStandby(partition: number, log: string[]) {
  return {
    partition,
    start: () => void log.push(`start ${partition}`),
    close: async () => void log.push(`close ${partition}`),
  } as unknown as StandbyTask
}

const tick = () => new Promise((r) => setTimeout(r, 0))

describe('StandbyManager', () => {
  it('starts a standby only after the task of its partition released the store, never one of an active partition', async () => {
    const log: string[] = []
    let releaseTask!: () => void
    const taskClosed = new Promise<void>((r) => (releaseTask = r))
    const m = new StandbyManager({
      create: (p) => fakeStandby(p, log),
      taskReleased: (p) => (p === 1 ? taskClosed : Promise.resolve()),
    })
    m.update([0, 1, 2], [2])
    await tick()
    expect(log).toEqual(['start 0'])
    expect([...m.standbys.keys()]).toEqual([0, 1])
    releaseTask()
    await tick()
    expect(log).toEqual(['start 0', 'start 1'])
  })

  it('release closes the standby before a task opens the store; update drops the standbys no longer assigned', async () => {
    const log: string[] = []
    const m = new StandbyManager({ create: (p) => fakeStandby(p, log), taskReleased: async () => undefined })
    m.update([0, 1], [])
    await tick()
    await m.release(0)
    expect(log).toEqual(['start 0', 'start 1', 'close 0'])
    expect(await m.release(0)).toBeUndefined() // nothing left to close
    m.update([3], [])
    await tick()
    expect(log).toEqual(['start 0', 'start 1', 'close 0', 'close 1', 'start 3'])
    await m.stop()
    expect(log.at(-1)).toBe('close 3')
    m.update([4], [])
    expect(m.standbys.size).toBe(0) // stopped: no new standby
  })

  it('a standby released before its task let go of the store never starts', async () => {
    const log: string[] = []
    let releaseTask!: () => void
    const taskClosed = new Promise<void>((r) => (releaseTask = r))
    const m = new StandbyManager({ create: (p) => fakeStandby(p, log), taskReleased: () => taskClosed })
    m.update([5], [])
    await m.release(5)
    releaseTask()
    await tick()
    expect(log).toEqual(['close 5'])
  })
})
