/** The LevelDB stores the verifier's workers left behind (state-<w>/<topology>/<partition>), opened one by one. */
import path from 'node:path'
import { LevelSnapshotStore } from '../../src/state/level-store.ts'
import type { Topology } from '../../src/topology/loader.ts'

/**
 * Calls `visit` with every store of every worker that exists; one that cannot be opened is a problem
 * (`<label> <dir>: cannot open ...`). Each store is closed after its visit, also when the visit throws.
 */
export async function forEachStore(
  t: Topology,
  dir: string,
  workers: number,
  label: string,
  problems: string[],
  visit: (store: LevelSnapshotStore, partition: number, storeDir: string) => Promise<void>,
): Promise<void> {
  for (let w = 0; w < workers; w++) {
    for (let p = 0; p < t.definition.partitions; p++) {
      const storeDir = path.join(dir, `state-${w}`, t.definition.name, String(p))
      let store: LevelSnapshotStore
      try {
        store = await LevelSnapshotStore.open(storeDir, {
          topology: t.definition.name,
          changelogTopic: t.topics.changelog,
          partition: p,
        })
      } catch (e) {
        problems.push(`${label} ${storeDir}: cannot open (${(e as Error).message})`)
        continue
      }
      try {
        await visit(store, p, storeDir)
      } finally {
        await store.close()
      }
    }
  }
}
