/**
 * How a task reads committed snapshots: its cache, then its store (one getMany for a whole batch), each stale one
 * (another stateVersion) rebuilt from its events (stale-snapshots.ts). What the store gave is cached with its size
 * as stored, so the cache's byte bound costs no encoding (snapshot-cache.ts).
 */
import { storeCodec } from '../domain/codec.ts'
import type { SnapshotRecord } from '../domain/envelopes.ts'
import { eventOf } from '../state/event-index.ts'
import type { SnapshotStore } from '../state/store.ts'
import type { Topology } from '../topology/loader.ts'
import type { SnapshotCache } from './snapshot-cache.ts'
import { trustedSnapshots } from './stale-snapshots.ts'

/** Overlay for one batch: cache -> store (one getMany) -> undefined (initial state). */
export async function loadSnapshots(
  ids: Iterable<string>,
  cache: SnapshotCache,
  store: SnapshotStore,
  topology: Pick<Topology, 'decider' | 'file'>,
): Promise<Map<string, SnapshotRecord | undefined>> {
  const overlay = new Map<string, SnapshotRecord | undefined>()
  const missing: string[] = []
  for (const id of ids) {
    const s = cache.get(id)
    if (s !== undefined) overlay.set(id, s)
    else missing.push(id)
  }
  if (missing.length === 0) return overlay
  const sizes: (number | undefined)[] = []
  const loaded = await storedSnapshots(store, missing, topology, sizes)
  for (let i = 0; i < missing.length; i++) {
    const s = loaded[i]
    overlay.set(missing[i]!, s)
    // Encoded here only for a rebuilt snapshot, or from a store that does not report sizes.
    if (s !== undefined) cache.set(s, sizes[i] ?? storeCodec.encode(s).length)
  }
  return overlay
}

/**
 * Snapshots from the store, stale ones rebuilt. `sizes`: their sizes as stored (getMany), undefined where a
 * snapshot was rebuilt (its stored size is not its own any more).
 */
export async function storedSnapshots(
  store: SnapshotStore,
  ids: readonly string[],
  topology: Pick<Topology, 'decider' | 'file'>,
  sizes?: (number | undefined)[],
): Promise<(SnapshotRecord | undefined)[]> {
  const index = { eventsOf: async (id: string) => (await store.events(id, {})).map(eventOf) }
  const loaded = await store.getMany(ids, sizes)
  const trusted = await trustedSnapshots(loaded, topology, index)
  if (sizes !== undefined)
    for (let i = 0; i < ids.length; i++) if (trusted[i] !== loaded[i]) sizes[i] = undefined
  return trusted
}
