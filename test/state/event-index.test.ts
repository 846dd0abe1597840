/**
 * The event index of both stores: key order, one aggregate's range, commit order, checkpoint round trip; and the
 * stored sizes getMany reports.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { encode, storeCodec } from '../../src/domain/codec.ts'
import type { SnapshotRecord } from '../../src/domain/envelopes.ts'
import {
  aggregateIdOfKey,
  eventKey,
  eventOf,
  versionOfKey,
  type IndexedEvent,
} from '../../src/state/event-index.ts'
import { LevelSnapshotStore } from '../../src/state/level-store.ts'
import { MemorySnapshotStore, type SnapshotStore } from '../../src/state/store.ts'

const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

const entry = (aggregateId: string, version: number, offset: bigint, json = false): IndexedEvent => ({
  aggregateId,
  version,
  offset,
  value: encode({ aggregateId, version, type: 'E', payload: { n: version } }, json ? 'json' : 'msgpack'),
})

// Ids that break a separator encoding: a prefix of another, a NUL inside, a character above any hex digit,
// multi-byte UTF-8.
const IDS = ['a', 'ab', 'a\u0000b', 'a\u0000', 'b', 'z', 'ä', '\u{1F600}x']

const stores: [string, () => Promise<SnapshotStore>][] = [
  ['MemorySnapshotStore', async () => new MemorySnapshotStore()],
  [
    'LevelSnapshotStore',
    async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'kd-index-'))
      dirs.push(dir)
      return LevelSnapshotStore.open(dir, { topology: 't', changelogTopic: 'c', partition: 0 })
    },
  ],
]

describe.each(stores)('%s event index', (_name, open) => {
  it('reads exactly one aggregate, in version order, whatever other ids share its prefix', async () => {
    const store = await open()
    // Interleaved in commit order: offset i, versions 1..12 per id; written in several batches.
    const all: IndexedEvent[] = []
    let offset = 0n
    for (let v = 1; v <= 12; v++) for (const id of IDS) all.push(entry(id, v, offset++, v % 2 === 0))
    for (let i = 0; i < all.length; i += 7)
      await store.write(
        [],
        { changelogOffset: 0n, inputOffset: -1n, eventsOffset: BigInt(i + 7) },
        all.slice(i, i + 7),
      )
    for (const id of IDS) {
      const got = await store.events(id)
      expect(
        got.map((e) => e.version),
        id,
      ).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
      expect(got).toEqual(all.filter((e) => e.aggregateId === id))
      expect(eventOf(got[1]!)).toEqual({ aggregateId: id, version: 2, type: 'E', payload: { n: 2 } })
    }
    expect((await store.events('a', { fromVersion: 3, toVersion: 5 })).map((e) => e.version)).toEqual([
      3, 4, 5,
    ])
    expect((await store.events('a', { fromVersion: 10, limit: 2 })).map((e) => e.version)).toEqual([10, 11])
    expect(await store.events('a', { fromVersion: 13 })).toEqual([])
    expect(await store.events('nobody')).toEqual([])
    expect(await store.events('a\u0000b\u0000')).toEqual([])
    await store.close()
  })

  it('reads the partition in commit (offset) order from an offset, in pages', async () => {
    const store = await open()
    const all = [entry('x', 1, 5n), entry('y', 1, 6n), entry('x', 2, 9n), entry('ab', 1, 300n)]
    await store.write([], { changelogOffset: 0n, inputOffset: -1n, eventsOffset: 301n }, all)
    expect(await store.eventsFrom(0n, 10)).toEqual(all)
    expect(await store.eventsFrom(6n, 2)).toEqual([all[1], all[2]])
    expect(await store.eventsFrom(10n, 10)).toEqual([all[3]])
    expect(await store.eventsFrom(301n, 10)).toEqual([])
    expect(await store.readCheckpoint()).toEqual({
      changelogOffset: 0n,
      inputOffset: -1n,
      eventsOffset: 301n,
    })
    // a checkpoint without eventsOffset (a store from before the index) reads back without it
    await store.write([], { changelogOffset: 1n, inputOffset: 0n })
    expect(await store.readCheckpoint()).toEqual({ changelogOffset: 1n, inputOffset: 0n })
    await store.close()
  })

  it('getMany reports the stored size of each snapshot when asked (0 where none)', async () => {
    const store = await open()
    const snap = (id: string, n: number) =>
      ({ aggregateId: id, version: 1, state: { s: 'x'.repeat(n) } }) as unknown as SnapshotRecord
    await store.write([snap('a', 10), snap('b', 1000)], { changelogOffset: 1n, inputOffset: 0n })
    const sizes: (number | undefined)[] = []
    const got = await store.getMany(['b', 'none', 'a'], sizes)
    expect(got.map((s) => s?.aggregateId)).toEqual(['b', undefined, 'a'])
    expect(sizes).toEqual([storeCodec.encode(got[0]).length, 0, storeCodec.encode(got[2]).length])
    await store.close()
  })
})

describe('event index keys', () => {
  it('sort by aggregate, then numerically by version; the id and version come back from the key', () => {
    const keys = [eventKey('a', 255), eventKey('a', 16), eventKey('a', 2), eventKey('a\u0000b', 1)]
    expect([...keys].sort()).toEqual([
      eventKey('a', 2),
      eventKey('a', 16),
      eventKey('a', 255),
      eventKey('a\u0000b', 1),
    ])
    expect(aggregateIdOfKey(eventKey('a\u0000b', 7))).toBe('a\u0000b')
    expect(versionOfKey(eventKey('ä', 2 ** 40))).toBe(2 ** 40)
  })
})
