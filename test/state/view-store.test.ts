/**
 * Range reads of the view stores (what GET /views/<projection>?prefix=&after=&limit= reads per partition): keys in
 * bytewise UTF-8 order, a prefix keeps every key that starts with it (astral characters after it too), `after` is
 * exclusive, and the LevelDB store and its in-memory twin answer the same.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  emptyViewCheckpoint,
  LevelViewStore,
  MemoryViewStore,
  type ViewRange,
  type ViewStore,
} from '../../src/state/view-store.ts'

const keys = ['y', 'z', 'zé', 'z\uFF21', 'z\u{1F600}', 'z\u{10FFFF}', 'z\u{10FFFF}a', '{', 'a\u{10FFFF}', 'b']
const bytewise = (xs: string[]) => [...xs].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))

describe('view store ranges', async () => {
  const level = await LevelViewStore.open(mkdtempSync(path.join(tmpdir(), 'kd-views-')), {
    projection: 'p',
    changelogTopic: 'p-views-changelog',
    partition: 0,
  })
  const memory = new MemoryViewStore()
  for (const s of [level, memory]) await s.write(new Map(keys.map((k) => [k, { k }])), emptyViewCheckpoint())
  afterAll(() => level.close())
  const range = async (s: ViewStore, r: ViewRange) => (await s.range(r)).map((e) => e.key)

  it.each([
    [{ limit: 100 }, bytewise(keys)],
    [{ prefix: 'z', limit: 100 }, bytewise(keys.filter((k) => k.startsWith('z')))],
    [{ prefix: 'z\u{10FFFF}', limit: 100 }, ['z\u{10FFFF}', 'z\u{10FFFF}a']],
    [{ prefix: 'a', limit: 100 }, ['a\u{10FFFF}']],
    [{ prefix: 'z', after: 'z\uFF21', limit: 100 }, ['z\u{1F600}', 'z\u{10FFFF}', 'z\u{10FFFF}a']],
    [{ prefix: 'z', after: 'a', limit: 2 }, ['z', 'zé']],
    [{ after: 'z\u{10FFFF}a', limit: 100 }, ['{']],
    [{ prefix: 'q', limit: 100 }, []],
  ] as [ViewRange, string[]][])('%j', async (r, expected) => {
    expect(await range(level, r)).toEqual(expected)
    expect(await range(memory, r)).toEqual(expected)
  })
})
