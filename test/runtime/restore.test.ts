import { describe, expect, it } from 'vitest'
import { encode, storeCodec } from '../../src/domain/codec.ts'
import { OFFSET_MARKER_KEY, type SnapshotRecord } from '../../src/domain/envelopes.ts'
import type { ChangelogReader, ChangelogRecord } from '../../src/runtime/ports.ts'
import { restoreStore } from '../../src/runtime/restore.ts'
import { MemorySnapshotStore, type StoredSnapshot } from '../../src/state/store.ts'

const snapshot = (id: string, version: number): SnapshotRecord => ({
  aggregateId: id,
  version,
  state: { balance: version * 10, tags: ['a', 'b'] },
  recent: [],
  sourceOffset: String(version),
})

/** A changelog in memory, handed out in chunks of 2. */
function changelog(records: ChangelogRecord[]): ChangelogReader {
  return {
    endOffset: async () => records[records.length - 1]!.offset + 2n, // a commit marker after the last record
    read: async (from, to, onRecords) => {
      const wanted = records.filter((r) => r.offset >= from && r.offset < to)
      for (let i = 0; i < wanted.length; i += 2) await onRecords(wanted.slice(i, i + 2))
    },
  }
}

/** Records what the store was given, as the store would keep it. */
class RecordingStore extends MemorySnapshotStore {
  given: StoredSnapshot[] = []
  override write(...args: Parameters<MemorySnapshotStore['write']>) {
    this.given.push(...args[0])
    return super.write(...args)
  }
}

describe('restoreStore', () => {
  it('stores msgpack snapshots as the changelog bytes, decodes JSON ones, and takes the input offset from markers', async () => {
    const a1 = snapshot('a', 1)
    const b1 = snapshot('b', 1)
    const a2 = snapshot('a', 2)
    const marker = { marker: 'input-offset', inputOffset: '41' }
    const log = changelog([
      { offset: 0n, key: 'a', value: encode(a1, 'msgpack') },
      { offset: 1n, key: 'b', value: encode(b1, 'json') },
      { offset: 2n, key: OFFSET_MARKER_KEY, value: encode(marker, 'msgpack') },
      { offset: 4n, key: 'a', value: encode(a2, 'msgpack') },
      { offset: 5n, key: OFFSET_MARKER_KEY, value: encode({ ...marker, inputOffset: '57' }, 'json') },
    ])
    const store = new RecordingStore()
    const result = await restoreStore(store, log, { timeoutMs: 1000 })
    expect(result.records).toBe(5)
    expect(result.checkpoint).toEqual({ changelogOffset: 6n, inputOffset: 57n })
    expect(await store.getMany(['a', 'b', 'c'])).toEqual([a2, b1, undefined])
    // The msgpack ones went in as the changelog's own bytes (no decode + re-pack); the JSON one as a record.
    expect(store.given.map((s) => ('bytes' in s ? 'bytes' : 'record'))).toEqual(['bytes', 'record', 'bytes'])
    expect(Buffer.from((store.given[2] as { bytes: Uint8Array }).bytes)).toEqual(storeCodec.encode(a2))
  })

  it('a store already at the end reads nothing', async () => {
    const store = new MemorySnapshotStore()
    await store.write([], { changelogOffset: 5n, inputOffset: 9n })
    let reads = 0
    const result = await restoreStore(
      store,
      { endOffset: async () => 6n, read: async () => void reads++ },
      { timeoutMs: 1000 },
    )
    expect(reads).toBe(0)
    expect(result.records).toBe(0)
    expect(result.checkpoint).toEqual({ changelogOffset: 5n, inputOffset: 9n })
  })
})

describe('restoreStore keeps the event index position', () => {
  it('a snapshot delta does not send the index back to offset 0', async () => {
    const store = new MemorySnapshotStore()
    await store.write([], { changelogOffset: 0n, inputOffset: -1n, eventsOffset: 120n })
    const log = changelog([{ offset: 0n, key: 'a', value: encode(snapshot('a', 1), 'msgpack') }])
    const result = await restoreStore(store, log, { timeoutMs: 1000 })
    expect(result.checkpoint.eventsOffset).toBe(120n)
    expect((await store.readCheckpoint())?.eventsOffset).toBe(120n)
  })
})
