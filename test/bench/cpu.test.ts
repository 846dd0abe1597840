/** bench/cpu.ts: CPU seconds of a process's threads by name, from /proc. */
import { describe, expect, it } from 'vitest'
import { threadCpuSeconds } from '../../bench/cpu.ts'

/** Spins until this process used `ms` more CPU (bounded: 20 s of wall clock on a starved machine). */
const burn = (ms: number) => {
  const start = process.cpuUsage()
  const deadline = Date.now() + 20_000
  let x = 0
  for (;;) {
    for (let i = 0; i < 10_000; i++) x += Math.sqrt(x + i)
    const used = process.cpuUsage(start)
    if ((used.user + used.system) / 1000 >= ms || Date.now() > deadline) return x
  }
}

describe('threadCpuSeconds', () => {
  it('counts the CPU of the threads whose name matches, and nothing for a name no thread has', () => {
    const before = threadCpuSeconds(process.pid, /./)
    burn(300)
    const after = threadCpuSeconds(process.pid, /./)
    // 300 ms of CPU, counted by /proc in 10 ms ticks
    expect(after - before).toBeGreaterThanOrEqual(0.25)
    expect(threadCpuSeconds(process.pid, /^no such thread name$/)).toBe(0)
  })

  it('is NaN for an unknown or ended process', () => {
    expect(threadCpuSeconds(undefined, /./)).toBeNaN()
    expect(threadCpuSeconds(2 ** 22 + 12345, /./)).toBeNaN()
  })
})
