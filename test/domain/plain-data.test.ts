/** The data contract of state and event payloads (src/domain/plain-data.ts). */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CONTENT_TYPES, decode, encode, storeCodec, type Serialization } from '../../src/domain/codec.ts'
import { MAX_DEPTH, PlainDataGuard, plainDataProblem } from '../../src/domain/plain-data.ts'

const roundTrip = (v: unknown, s: Serialization) => decode(encode(v, s), CONTENT_TYPES[s])

/** Equal as data, prototypes and undefined-vs-missing included; -0 equals 0 (the documented normalisation). */
function sameData(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return Object.is(a, b)
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) {
    // a null-prototype object comes back as a plain one
    if (Array.isArray(a) || Array.isArray(b) || Object.getPrototypeOf(b) !== Object.prototype) return false
  }
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  return ka.every(
    (k) =>
      Object.hasOwn(b, k) && sameData((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  )
}

describe('plainDataProblem', () => {
  it('accepts plain JSON-like data', () => {
    const ok = [null, true, 0, -1.5, '', 'é😀', [], [1, [2, { a: null }]], {}, { a: { b: [{}] } }]
    for (const v of ok) expect(plainDataProblem(v, 'state'), JSON.stringify(v)).toBeUndefined()
    expect(plainDataProblem(Object.assign(Object.create(null), { a: 1 }), 'state')).toBeUndefined()
  })

  it('names the path and what is wrong', () => {
    class Money {
      cents = 1
    }
    const cases: [unknown, string][] = [
      [new Map(), 'state is a Map'],
      [{ tags: new Set() }, 'state.tags is a Set'],
      [{ at: [1, new Date(0)] }, 'state.at[1] is a Date'],
      [{ m: new Money() }, 'state.m is an instance of class Money'],
      [{ 'a b': { n: 1n } }, 'state["a b"].n is a bigint'],
      [{ u: undefined }, 'state.u is undefined'],
      [[1, , 3], 'state[1] is undefined'],
      [{ n: NaN }, 'state.n is NaN'],
      [{ n: -Infinity }, 'state.n is -Infinity'],
      [{ s: 'a\ud800' }, 'state.s is a string with a lone UTF-16 surrogate'],
      [{ f: () => 1 }, 'state.f is a function'],
      [{ b: Buffer.from('x') }, 'state.b is a Buffer'],
      [{ b: new Uint8Array(1) }, 'state.b is a Uint8Array'],
      [JSON.parse('{"x":{"__proto__":1}}'), 'state.x.__proto__ is a key named "__proto__"'],
    ]
    for (const [v, says] of cases)
      expect(plainDataProblem(v, 'state')).toMatch(new RegExp(`^${escape(says)}`))
  })

  it('a cycle is named by where it closes; a deep nesting by its depth', () => {
    const a: Record<string, unknown> = { list: [] }
    ;(a.list as unknown[]).push({ back: a })
    expect(plainDataProblem({ a }, 'state')).toBe('state.a.list[0].back refers back to state.a (a cycle)')
    let deep: unknown = 1
    for (let i = 0; i < MAX_DEPTH + 5; i++) deep = [deep]
    expect(plainDataProblem(deep, 'state')).toMatch(
      /^state\[0\]\[0\].*…\[0\]\[0\] is nested deeper than 1000 levels$/,
    )
  })

  it('property: whatever it accepts comes back equal from msgpack, JSON and the store codec', () => {
    const anything = fc.anything({
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withNullPrototype: true,
      withObjectString: true,
      withSet: true,
      withTypedArray: true,
      withSparseArray: true,
      withUnicodeString: true,
    })
    fc.assert(
      fc.property(anything, (v) => {
        if (plainDataProblem(v, 'v') !== undefined) return
        for (const s of ['msgpack', 'json'] as const) expect(sameData(v, roundTrip(v, s)), s).toBe(true)
        expect(sameData(v, storeCodec.decode(storeCodec.encode(v)))).toBe(true)
      }),
      { numRuns: 2000 },
    )
  })

  it('property: JSON values are accepted (but a "__proto__" key, which msgpack renames)', () => {
    const json = fc.jsonValue().filter((v) => !JSON.stringify(v).includes('"__proto__"'))
    fc.assert(
      fc.property(json, (v) => plainDataProblem(v, 'v') === undefined),
      { numRuns: 2000 },
    )
  })
})

describe('PlainDataGuard', () => {
  it('freezes what it verified, skips it afterwards, and verifies only the new parts of a value', () => {
    const guard = new PlainDataGuard()
    const entries = { a: { n: 1 }, b: { n: 2 } }
    const state = { entries }
    expect(guard.problem(state, 'state')).toBeUndefined()
    expect(Object.isFrozen(state) && Object.isFrozen(entries) && Object.isFrozen(entries.a)).toBe(true)
    expect(() => {
      ;(entries.a as { n: number }).n = 5
    }).toThrow(TypeError)
    const next = { entries: { ...entries, c: new Set() } }
    expect(guard.problem(next, 'state')).toMatch(/^state\.entries\.c is a Set/)
    expect(Object.isFrozen(next)).toBe(false) // refused: nothing of it is frozen or remembered
  })

  it('marks what it verified out of sight, takes an object met twice in one value, and remembers objects frozen before', () => {
    const guard = new PlainDataGuard()
    const shared = { n: 1 }
    const state = { a: shared, b: shared, list: [shared] }
    expect(guard.problem(state, 'state')).toBeUndefined()
    expect(state).toStrictEqual({ a: { n: 1 }, b: { n: 1 }, list: [{ n: 1 }] })
    expect(Object.keys(state)).toEqual(['a', 'b', 'list'])
    expect(JSON.stringify(shared)).toBe('{"n":1}')
    // Frozen by the decider before any check: walked (and frozen again) once, counted through a proxy's trap; then
    // skipped, by this guard and by another.
    let walked = 0
    const frozen = new Proxy(Object.freeze({ n: 2 }), {
      ownKeys(t) {
        walked++
        return Reflect.ownKeys(t)
      },
    })
    expect(guard.problem({ f: frozen }, 'state')).toBeUndefined()
    const once = walked
    expect(once).toBeGreaterThan(0)
    expect(guard.problem({ again: frozen }, 'state')).toBeUndefined()
    expect(new PlainDataGuard().problem({ other: frozen }, 'state')).toBeUndefined()
    expect(walked).toBe(once)
  })
})

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
