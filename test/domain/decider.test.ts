import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { deciderShapeProblems, defineDecider, fold, isRejection, reject } from '../../src/domain/decider.ts'
import bank from '../../topologies/bank-account.ts'

const counter = defineDecider({
  initialState: () => ({ log: [] as string[] }),
  commands: { Add: z.object({ s: z.string() }) },
  events: { Added: z.object({ s: z.string() }) },
  decide: (c) => ({ type: 'Added', payload: { s: c.payload.s } }),
  evolve: (state, e) => ({ log: [...state.log, e.payload.s] }),
})

describe('defineDecider / reject / fold', () => {
  it('defineDecider marks the kind and defaults stateVersion to 1', () => {
    expect(counter.kind).toBe('kafka-decider/decider')
    expect(counter.stateVersion).toBe(1)
    expect(defineDecider({ ...counter, stateVersion: 3 }).stateVersion).toBe(3)
  })

  it('reject builds a rejection that isRejection recognises; plain objects are not rejections', () => {
    const r = reject('code', 'msg')
    expect(isRejection(r)).toBe(true)
    expect(r).toMatchObject({ code: 'code', message: 'msg' })
    expect(isRejection({ code: 'code', message: 'msg' })).toBe(false)
    expect(isRejection(null)).toBe(false)
    expect(isRejection([])).toBe(false)
    // survives a structured clone? no: the marker is a symbol, so a serialised rejection is not a rejection
    expect(isRejection(JSON.parse(JSON.stringify(r)))).toBe(false)
  })

  it('fold applies events in order from the initial state or a given state', () => {
    const events = [
      { type: 'Added', payload: { s: 'a' } },
      { type: 'Added', payload: { s: 'b' } },
    ]
    expect(fold(counter, events)).toEqual({ log: ['a', 'b'] })
    expect(fold(counter, events, { log: ['x'] })).toEqual({ log: ['x', 'a', 'b'] })
    expect(fold(counter, [])).toEqual({ log: [] })
    expect(fold(bank, [{ type: 'AccountCreated', payload: { owner: 'o' } }])).toEqual({
      status: 'open',
      owner: 'o',
      balance: 0,
    })
  })

  it('fold does not reuse one initial state object across calls', () => {
    fold(counter, [{ type: 'Added', payload: { s: 'a' } }])
    expect(fold(counter, [])).toEqual({ log: [] })
  })
})

describe('deciderShapeProblems', () => {
  it('a real decider has no problems', () => {
    expect(deciderShapeProblems(bank)).toEqual([])
    expect(deciderShapeProblems(counter)).toEqual([])
  })

  it('not an object', () => {
    expect(deciderShapeProblems(undefined)).toEqual([expect.stringContaining('not an object')])
    expect(deciderShapeProblems(42)).toHaveLength(1)
  })

  it('names every missing function and map', () => {
    expect(deciderShapeProblems({})).toEqual([
      '"initialState" must be a function',
      '"decide" must be a function',
      '"evolve" must be a function',
      '"commands" must be an object of payload schemas',
      '"events" must be an object of payload schemas',
    ])
  })

  it('names entries that are not schemas', () => {
    const problems = deciderShapeProblems({
      ...counter,
      commands: { Add: { type: 'string' } },
      events: { Added: null },
    })
    expect(problems).toEqual([
      'commands.Add must be a schema with safeParse (e.g. zod)',
      'events.Added must be a schema with safeParse (e.g. zod)',
    ])
  })
})
