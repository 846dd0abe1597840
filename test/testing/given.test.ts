import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineDecider, reject } from '../../src/index.ts'
import { given, SpecFailedError } from '../../src/testing/index.ts'

const counter = defineDecider({
  initialState: () => ({ n: 0 }),
  commands: { Add: z.object({ by: z.number() }), Touch: z.object({}), Boom: z.object({}) },
  events: { Added: z.object({ by: z.number() }) },
  decide(command, state) {
    switch (command.type) {
      case 'Add':
        if (state.n + command.payload.by > 10)
          return reject('too_big', `at most 10, would be ${state.n + command.payload.by}`)
        return { type: 'Added', payload: { by: command.payload.by } }
      case 'Touch':
        return []
      case 'Boom':
        throw new Error('kaboom')
    }
  },
  evolve: (state, event) => ({ n: state.n + event.payload.by }),
})

const added = (by: number) => ({ type: 'Added' as const, payload: { by } })

describe('given/when/then', () => {
  it('then: the events, and returns the state after them', () => {
    expect(
      given(counter, [added(2)])
        .when({ type: 'Add', payload: { by: 3 } })
        .then([added(3)]),
    ).toEqual({ n: 5 })
    given(counter)
      .when({ type: 'Add', payload: { by: 1 } })
      .then(added(1))
    expect(given(counter, [added(2), added(4)]).state).toEqual({ n: 6 })
  })

  it('thenRejected and thenNothing', () => {
    given(counter, [added(9)])
      .when({ type: 'Add', payload: { by: 2 } })
      .thenRejected('too_big')
    given(counter, [added(9)])
      .when({ type: 'Add', payload: { by: 2 } })
      .thenRejected('too_big', /would be 11/)
    given(counter).when({ type: 'Touch', payload: {} }).thenNothing()
  })

  it('failures throw an Error that shows expected vs actual', () => {
    const wrongEvents = () =>
      given(counter, [added(1)])
        .when({ type: 'Add', payload: { by: 3 } })
        .then([added(4)])
    expect(wrongEvents).toThrow(SpecFailedError)
    expect(wrongEvents).toThrow(
      /expected: events \[ \{ payload: \{ by: 4 \}, type: 'Added' \} \]\nactual:   events \[ \{ payload: \{ by: 3 \}, type: 'Added' \} \]/,
    )
    expect(wrongEvents).toThrow(
      /given \[ \{ payload: \{ by: 1 \}, type: 'Added' \} \]\nwhen \{ payload: \{ by: 3 \}, type: 'Add' \}/,
    )

    expect(() =>
      given(counter, [added(9)])
        .when({ type: 'Add', payload: { by: 5 } })
        .then([added(5)]),
    ).toThrow(/expected: events .*\nactual:   rejected 'too_big' \(at most 10, would be 14\)/)
    expect(() =>
      given(counter)
        .when({ type: 'Add', payload: { by: 1 } })
        .thenRejected('too_big'),
    ).toThrow(/expected: rejected 'too_big'\nactual:   events/)
    expect(() =>
      given(counter, [added(9)])
        .when({ type: 'Add', payload: { by: 2 } })
        .thenRejected('other'),
    ).toThrow(/expected: rejected 'other'\nactual:   rejected 'too_big'/)
    expect(() =>
      given(counter)
        .when({ type: 'Add', payload: { by: 1 } })
        .thenNothing(),
    ).toThrow(/expected: no events/)
    expect(() => given(counter).when({ type: 'Boom', payload: {} }).thenNothing()).toThrow(
      /decide or evolve threw: Error: kaboom/,
    )
  })
})
