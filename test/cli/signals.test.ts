import pino from 'pino'
import { describe, expect, it, vi } from 'vitest'
import { signalHandler } from '../../src/cli/run.ts'

describe('worker signal handling', () => {
  it('stops gracefully on the first signal and exits 1 at once on the second', () => {
    const stop = vi.fn(() => new Promise<void>(() => undefined)) // a shutdown that does not finish
    const exit = vi.fn()
    const onSignal = signalHandler({ stop, logger: pino({ level: 'silent' }) }, exit)
    onSignal('SIGTERM')
    expect(stop).toHaveBeenCalledTimes(1)
    expect(exit).not.toHaveBeenCalled()
    onSignal('SIGINT')
    expect(exit).toHaveBeenCalledWith(1)
    expect(stop).toHaveBeenCalledTimes(1)
  })
})
