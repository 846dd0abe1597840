/**
 * The data contract of aggregate state and event payloads: plain JSON-like data — plain objects (own enumerable
 * string keys), arrays, strings (well-formed Unicode), finite numbers, booleans and null, at most MAX_DEPTH
 * levels deep. Only such a value comes back equal from every codec the worker stores it with (msgpack or JSON
 * on the changelog and the events topic, msgpack in LevelDB). A task's cache holds the live object while the
 * store and the changelog hold the decoded copy, so a state that does not round-trip would make the same command
 * decide differently before and after an eviction, a restart or a restore. -0 is stored as 0.
 *
 * A structural walk, cheaper than encode + decode + compare (bench/processor-micro.ts), stopping at the first
 * problem; the path is built only then.
 */

import { Stamped } from '../util/stamp.ts'

export const MAX_DEPTH = 1000

// ES2024 (Node 20 has it; the project's lib is ES2022).
declare global {
  interface String {
    isWellFormed(): boolean
  }
}

export const PLAIN_DATA_RULE =
  'must be plain JSON-like data: plain objects, arrays, strings, finite numbers, booleans and null ' +
  '(no Map, Set, Date, class instance, bigint, undefined, NaN or Infinity, no cycles), as it is stored ' +
  'encoded (msgpack or JSON) and must decode equal to what decide and evolve saw'

interface Problem {
  /** Path segments from the problem up to the root (reversed when formatted). */
  up: (string | number)[]
  what: string
}

/**
 * The first problem of `value` as `"<root>.a.b is a Set"`, or undefined when it is plain data. `root` names the
 * value in the message (e.g. "state", "events[0].payload").
 */
export function plainDataProblem(value: unknown, root: string): string | undefined {
  const p = walk(value, 0, false, undefined)
  return p === undefined ? undefined : describe(value, root, p)
}

/**
 * plainDataProblem for a task: the objects it verified are frozen and remembered, so a later value that shares
 * them (a state updated by spreading the previous one) is walked only where it is new. Freezing keeps them
 * verified (nothing can mutate them afterwards, e.g. an evolve that mutates its input: it throws instead) and
 * keeps the cache's objects equal to what the store and the changelog hold.
 */
export class PlainDataGuard {
  problem(value: unknown, root: string): string | undefined {
    const fresh: object[] = []
    const p = walk(value, 0, true, fresh)
    if (p !== undefined) return describe(value, root, p)
    for (const o of fresh) {
      markVerified(o)
      Object.freeze(o)
    }
    return undefined
  }

  /**
   * problem() for a value that nothing keeps (an event payload, encoded right after the check): walked the same
   * way, without freezing or remembering what is new in it, which cost more than the walk. A state that takes the
   * value in is checked by problem(), which then remembers it.
   */
  transientProblem(value: unknown, root: string): string | undefined {
    const p = walk(value, 0, true, undefined)
    return p === undefined ? undefined : describe(value, root, p)
  }
}

function describe(value: unknown, root: string, p: Problem): string {
  if (p.what === DEEP) {
    const cycle = findCycle(value)
    if (cycle !== undefined)
      return `${formatPath(root, cycle.at)} refers back to ${formatPath(root, cycle.to)} (a cycle)`
  }
  return `${formatPath(root, p.up.reverse())} ${p.what}`
}

const DEEP = `is nested deeper than ${MAX_DEPTH} levels`

/**
 * Objects a guard verified (and froze) are marked with a private field (util/stamp.ts): a WeakSet of them cost an
 * ephemeron table insert per new state and work in every collection, with every cached aggregate's state in it.
 * Verified plain data stays plain (it is frozen), so the mark holds for every guard. An object frozen before its
 * check cannot take the field and goes to a WeakSet.
 */
class Verified extends Stamped {
  #verified = true

  static has(o: object): boolean {
    return #verified in o
  }

  static mark(o: object): void {
    if (!(#verified in o)) new Verified(o)
  }
}

const verifiedFrozen = new WeakSet<object>()
let anyVerifiedFrozen = false

function markVerified(o: object): void {
  if (Object.isExtensible(o)) Verified.mark(o)
  else {
    verifiedFrozen.add(o)
    anyVerifiedFrozen = true
  }
}

function isVerified(o: object): boolean {
  return Verified.has(o) || (anyVerifiedFrozen && verifiedFrozen.has(o))
}

function walk(
  v: unknown,
  depth: number,
  verified: boolean,
  fresh: object[] | undefined,
): Problem | undefined {
  switch (typeof v) {
    case 'string':
      return v.isWellFormed()
        ? undefined
        : problem('is a string with a lone UTF-16 surrogate (not valid Unicode)')
    case 'number':
      return Number.isFinite(v) ? undefined : problem(`is ${v} (JSON writes null for it)`)
    case 'boolean':
      return undefined
    case 'undefined':
      return problem('is undefined (JSON drops it, msgpack keeps it): omit the property or use null')
    case 'bigint':
      return problem(
        'is a bigint (JSON cannot encode it, msgpack decodes it as a number): use a number or a string',
      )
    case 'symbol':
      return problem('is a symbol')
    case 'function':
      return problem('is a function')
  }
  if (v === null) return undefined
  if (verified && isVerified(v as object)) return undefined
  if (depth >= MAX_DEPTH) return problem(DEEP)
  const proto = Object.getPrototypeOf(v) as object | null
  if (proto === Array.prototype) {
    const a = v as unknown[]
    for (let i = 0; i < a.length; i++) {
      const p = walk(a[i], depth + 1, verified, fresh)
      if (p !== undefined) {
        p.up.push(i)
        return p
      }
    }
    fresh?.push(a)
    return undefined
  }
  if (proto !== Object.prototype && proto !== null) return problem(`is ${className(v as object)}`)
  const o = v as Record<string, unknown>
  // for-in, not Object.keys: no array per object (a plain object inherits no enumerable property).
  for (const k in o) {
    if (k === '__proto__') return problem('is a key named "__proto__" (msgpack renames it)', k)
    if (!k.isWellFormed()) return problem('is a key with a lone UTF-16 surrogate (not valid Unicode)', k)
    const p = walk(o[k], depth + 1, verified, fresh)
    if (p !== undefined) {
      p.up.push(k)
      return p
    }
  }
  fresh?.push(o)
  return undefined
}

function problem(what: string, key?: string): Problem {
  return { up: key === undefined ? [] : [key], what }
}

function className(v: object): string {
  if (Array.isArray(v)) return 'an array of another class or realm'
  let name: unknown
  try {
    name = (v as { constructor?: { name?: unknown } }).constructor?.name
  } catch {
    name = undefined
  }
  if (typeof name !== 'string' || name === '') return 'an object with a prototype (not a plain object)'
  // Built-ins (Map, Set, Date, Buffer, Uint8Array, ...) by their name; anything else is a class of the decider.
  const global = (globalThis as Record<string, unknown>)[name]
  return typeof global === 'function' ? `a ${name}` : `an instance of class ${name}`
}

/** Where a cycle closes: the path of the reference and of the ancestor it points to. */
function findCycle(value: unknown): { at: (string | number)[]; to: (string | number)[] } | undefined {
  const ancestors: object[] = []
  const paths: (string | number)[][] = []
  const visit = (v: unknown, path: (string | number)[]): ReturnType<typeof findCycle> => {
    if (typeof v !== 'object' || v === null) return undefined
    const i = ancestors.indexOf(v)
    if (i >= 0) return { at: path, to: paths[i]! }
    if (ancestors.length >= MAX_DEPTH) return undefined
    ancestors.push(v)
    paths.push(path)
    const entries: [string | number, unknown][] = Array.isArray(v)
      ? v.map((x, j) => [j, x])
      : Object.keys(v).map((k) => [k, (v as Record<string, unknown>)[k]])
    for (const [k, x] of entries) {
      const found = visit(x, [...path, k])
      if (found !== undefined) return found
    }
    ancestors.pop()
    paths.pop()
    return undefined
  }
  return visit(value, [])
}

const IDENT = /^[A-Za-z_$][\w$]*$/

function formatPath(root: string, segments: readonly (string | number)[]): string {
  const long = segments.length > 12
  const shown = long ? [...segments.slice(0, 10), ...segments.slice(-2)] : segments
  let s = root
  shown.forEach((seg, i) => {
    if (long && i === 10) s += '…'
    if (typeof seg === 'number') s += `[${seg}]`
    else if (IDENT.test(seg)) s += `.${seg}`
    else s += `[${JSON.stringify(seg.length > 40 ? seg.slice(0, 40) + '…' : seg)}]`
  })
  return s
}
