/** input-offset.ts: which transactions carry the input offset, and when a quiet partition commits it on its own. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { InputOffsetSchedule, OFFSET_FLUSH_QUIET_MS } from '../../src/runtime/input-offset.ts'

describe('InputOffsetSchedule', () => {
  let clock = 0
  let flushes = 0
  const schedule = (intervalMs: number, quietMs?: number) =>
    new InputOffsetSchedule({
      intervalMs,
      ...(quietMs === undefined ? {} : { quietMs }),
      flush: () => void flushes++,
      now: () => clock,
    })
  beforeEach(() => {
    vi.useFakeTimers()
    clock = 0
    flushes = 0
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('at most one transaction per interval carries it; at 0, or when the producer cannot leave it out, every one', () => {
    const s = schedule(1000)
    s.reset(5n)
    expect(s.due(true)).toBe(true) // nothing committed by this task yet
    s.committed(10n)
    clock = 999
    expect(s.due(true)).toBe(false)
    expect(s.due(false)).toBe(true)
    clock = 1000
    expect(s.due(true)).toBe(true)
    // The interval counts from the start of the transaction that carried it.
    s.committed(20n, 900)
    clock = 1899
    expect(s.due(true)).toBe(false)
    const every = schedule(0)
    every.committed(1n)
    expect(every.due(true)).toBe(true)
  })

  it('behind: the group offset against the position (none committed: behind once anything was read)', () => {
    const s = schedule(1000)
    s.reset(undefined)
    expect(s.behind(0n)).toBe(false)
    expect(s.behind(1n)).toBe(true)
    s.reset(7n)
    expect(s.behind(7n)).toBe(false)
    expect(s.behind(8n)).toBe(true)
  })

  it('flushes once the partition is quiet for quietMs, not while transactions keep coming, not when not behind', () => {
    const s = schedule(1000)
    s.reset(0n)
    s.arm(0n) // not behind: nothing to do
    vi.advanceTimersByTime(10 * OFFSET_FLUSH_QUIET_MS)
    expect(flushes).toBe(0)
    for (let i = 1; i <= 10; i++) {
      s.arm(BigInt(i)) // a transaction without the offset every half quiet time
      vi.advanceTimersByTime(OFFSET_FLUSH_QUIET_MS / 2)
    }
    expect(flushes).toBe(0)
    vi.advanceTimersByTime(OFFSET_FLUSH_QUIET_MS / 2)
    expect(flushes).toBe(1)
    vi.advanceTimersByTime(10 * OFFSET_FLUSH_QUIET_MS)
    expect(flushes).toBe(1)
  })

  it('after failed flushes the wait doubles, up to 5 s; a committed offset resets it; cancel stops it', () => {
    const s = schedule(1000, 100)
    s.reset(0n)
    s.failed()
    s.failed()
    s.arm(3n)
    vi.advanceTimersByTime(399)
    expect(flushes).toBe(0)
    vi.advanceTimersByTime(1)
    expect(flushes).toBe(1)
    for (let i = 0; i < 10; i++) s.failed()
    s.arm(3n)
    vi.advanceTimersByTime(4999)
    expect(flushes).toBe(1)
    vi.advanceTimersByTime(1)
    expect(flushes).toBe(2)
    s.committed(3n)
    s.arm(4n)
    vi.advanceTimersByTime(100)
    expect(flushes).toBe(3)
    s.arm(5n)
    s.cancel()
    vi.advanceTimersByTime(10_000)
    expect(flushes).toBe(3)
  })
})
