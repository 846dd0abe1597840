/**
 * Hardening, class 3: state and event payloads must be plain JSON-like data. A task's cache holds the live object
 * while LevelDB and the changelog hold its encoded copy, so a state that does not round-trip would decide
 * differently after an eviction, a restart or a restore. Such a state is refused at the command that produced
 * it ('failed', state_not_plain, the path named), and the in-memory store round-trips through the real codec.
 */
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineDecider } from '../../src/domain/decider.ts'
import type { SnapshotRecord } from '../../src/domain/envelopes.ts'
import { MemorySnapshotStore } from '../../src/state/store.ts'
import { TopologyTestDriver } from '../../src/testing/driver.ts'

class Tag {
  constructor(readonly name: string) {}
}

const KINDS = {
  set: { make: () => new Set(['a']), says: /state\.tags is a Set; state must be plain JSON-like data/ },
  map: { make: () => new Map([['a', 1]]), says: /state\.tags is a Map/ },
  date: { make: () => new Date(0), says: /state\.tags is a Date/ },
  instance: { make: () => new Tag('a'), says: /state\.tags is an instance of class Tag/ },
  bigint: { make: () => 1n, says: /state\.tags is a bigint/ },
  undefined: { make: () => undefined, says: /state\.tags is undefined/ },
  nan: { make: () => NaN, says: /state\.tags is NaN/ },
  nested: { make: () => [{ at: new Date(0) }], says: /state\.tags\[0\]\.at is a Date/ },
  cycle: {
    make: () => {
      const o: Record<string, unknown> = {}
      o.me = o
      return o
    },
    says: /state\.tags\.me refers back to state\.tags \(a cycle\)/,
  },
} as const
type Kind = keyof typeof KINDS

const tags = defineDecider({
  initialState: () => ({ tags: [] as unknown }),
  commands: { Tag: z.object({ kind: z.string() }), Plain: z.object({}) },
  events: { Tagged: z.object({ kind: z.string() }) },
  decide: (c) => ({ type: 'Tagged', payload: { kind: c.type === 'Tag' ? c.payload.kind : 'plain' } }),
  evolve: (s, e) => {
    const kind = KINDS[e.payload.kind as Kind]
    return { ...s, tags: kind ? kind.make() : ['plain'] }
  },
})

describe('state that is not plain data is refused at the command that produced it', () => {
  for (const [kind, { says }] of Object.entries(KINDS)) {
    it(`${kind}: failed (state_not_plain) naming the path; the aggregate and the partition go on`, async () => {
      const driver = await TopologyTestDriver.create(tags, { definition: { name: `plain-${kind}` } })
      const reply = await driver.pipe({ aggregateId: 'a', type: 'Tag', payload: { kind }, commandId: 'c1' })
      expect(reply).toMatchObject({ status: 'failed', version: 0, error: { code: 'state_not_plain' } })
      expect(reply!.error!.message).toMatch(says)
      expect(driver.replies()).toHaveLength(1)
      expect(driver.deadLetters().map((d) => d.errorCode)).toEqual(['state_not_plain'])
      expect(driver.events('a')).toEqual([])
      const next = await driver.pipe({ aggregateId: 'a', type: 'Plain', payload: {}, commandId: 'c2' })
      expect(next).toMatchObject({ status: 'accepted', version: 1 })
      expect(await driver.state('a')).toEqual({ tags: ['plain'] })
      await driver.close()
    })
  }

  it('an event payload that does not round-trip is the same class (event_not_plain)', async () => {
    const d = defineDecider({
      initialState: () => ({}),
      commands: { Go: z.object({}) },
      events: { Went: z.object({ at: z.unknown() }) },
      decide: () => ({ type: 'Went', payload: { at: new Date(0) } }),
      evolve: (s) => s,
    })
    const driver = await TopologyTestDriver.create(d)
    const reply = await driver.pipe({ aggregateId: 'a', type: 'Go', payload: {}, commandId: 'c1' })
    expect(reply).toMatchObject({ status: 'failed', error: { code: 'event_not_plain' } })
    expect(reply!.error!.message).toMatch(
      /^events\[0\]\.payload\.at is a Date; an event payload must be plain/,
    )
    expect(driver.events()).toEqual([])
  })

  it('the same command decides the same before and after a restart that loses the cache', async () => {
    // A Map state used to decide `n: 1` from the cache, and to throw after the restore (the changelog holds an
    // object, which has no get). Now the command that made the Map is refused, and Count decides the same.
    const counter = defineDecider({
      initialState: () => ({ seen: [] as [string, number][] | Map<string, number> }),
      commands: { See: z.object({ who: z.string() }), Count: z.object({}) },
      events: { Saw: z.object({ who: z.string() }), Counted: z.object({ n: z.number() }) },
      decide: (c, s) =>
        c.type === 'See'
          ? { type: 'Saw', payload: { who: c.payload.who } }
          : { type: 'Counted', payload: { n: Array.isArray(s.seen) ? s.seen.length : s.seen.get('x')! } },
      evolve: (s, e) =>
        e.type === 'Saw' ? { seen: new Map([...s.seen, [e.payload.who, 1] as [string, number]]) } : s,
    })
    for (const serialization of ['msgpack', 'json'] as const) {
      const driver = await TopologyTestDriver.create(counter, { definition: { serialization } })
      await driver.pipe({ aggregateId: 'a', type: 'See', payload: { who: 'x' } })
      await driver.pipe({ aggregateId: 'a', type: 'Count', payload: {} })
      await driver.restart({ partitions: [0], loseLocalState: true })
      await driver.pipe({ aggregateId: 'a', type: 'Count', payload: {} })
      expect(driver.replies().map((r) => [r.status, r.error?.code])).toEqual([
        ['failed', 'state_not_plain'],
        ['accepted', undefined],
        ['accepted', undefined],
      ])
      expect(driver.events('a').map((e) => e.payload)).toEqual([{ n: 0 }, { n: 0 }])
    }
  })
})

describe('the state a task holds is frozen: decide or evolve mutating it fails the command', () => {
  it('evolve that pushes onto its input state -> failed (decide_threw); the cache stays equal to the store', async () => {
    const pushy = defineDecider({
      initialState: () => ({ items: [] as string[] }),
      commands: { Add: z.object({ x: z.string() }), AddProperly: z.object({ x: z.string() }) },
      events: { Added: z.object({ x: z.string() }), AddedProperly: z.object({ x: z.string() }) },
      decide: (c) =>
        c.type === 'Add'
          ? { type: 'Added', payload: { x: c.payload.x } }
          : { type: 'AddedProperly', payload: { x: c.payload.x } },
      evolve: (s, e) => {
        if (e.type === 'AddedProperly') return { items: [...s.items, e.payload.x] }
        s.items.push(e.payload.x) // the bug: mutates the committed state the cache holds
        return { ...s }
      },
    })
    const driver = await TopologyTestDriver.create(pushy)
    await driver.pipe({ aggregateId: 'a', type: 'AddProperly', payload: { x: '1' } })
    const reply = await driver.pipe({ aggregateId: 'a', type: 'Add', payload: { x: '2' }, commandId: 'c2' })
    expect(reply).toMatchObject({ status: 'failed', error: { code: 'decide_threw' } })
    expect(reply!.error!.message).toMatch(/TypeError: .*(not extensible|read only)/)
    await driver.pipe({ aggregateId: 'a', type: 'AddProperly', payload: { x: '3' } })
    expect(await driver.state('a')).toEqual({ items: ['1', '3'] })
    await driver.restart({ partitions: [0], loseLocalState: true })
    await driver.pipe({ aggregateId: 'a', type: 'AddProperly', payload: { x: '4' } })
    expect(await driver.state('a')).toEqual({ items: ['1', '3', '4'] })
    expect(await driver.state('a')).toEqual(driver.foldedState('a'))
  })
})

describe('MemorySnapshotStore round-trips through the codec, as LevelDB does', () => {
  it('what it returns is the decoded copy, not a clone of the live object', async () => {
    const store = new MemorySnapshotStore()
    const snapshot: SnapshotRecord = {
      aggregateId: 'a',
      version: 1,
      state: { m: new Map([['k', 1]]), u: undefined, big: 2 ** 40 },
      recent: [],
      sourceOffset: '0',
    }
    await store.write([snapshot], { changelogOffset: 1n, inputOffset: 0n })
    const [back] = await store.getMany(['a'])
    expect(back!.state).toStrictEqual({ m: { k: 1 }, u: undefined, big: 2 ** 40 })
    expect((back!.state as { m: unknown }).m).not.toBeInstanceOf(Map)
    const all = []
    for await (const s of store.entries()) all.push(s)
    expect(all).toStrictEqual([back])
  })
})
