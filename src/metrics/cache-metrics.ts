/** The snapshot caches' gauges (names in metrics.ts), read from the tasks at scrape time: nothing on the hot path. */
import { Gauge, type Registry } from 'prom-client'

/** The RUNNING task of each (topology, partition), by `topology\0partition`. */
export type TaskCaches = Map<
  string,
  { topology: string; partition: string; usage: () => { entries: number; bytes: number } }
>

export function snapshotCacheGauges(
  registers: Registry[],
  caches: TaskCaches,
  names: { entries: string; bytes: string },
  labelNames: readonly string[],
) {
  const gauge = (name: string, help: string, of: 'entries' | 'bytes') =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset()
        for (const { topology, partition, usage } of caches.values())
          this.set({ topology, partition }, usage()[of])
      },
    })
  return {
    snapshotCacheEntries: gauge(
      names.entries,
      'Committed snapshots held in memory by the snapshot cache of each task (bounded by processing.snapshotCacheSize)',
      'entries',
    ),
    snapshotCacheBytes: gauge(
      names.bytes,
      'Encoded size of the snapshots held by the snapshot cache of each task (bounded by processing.snapshotCacheBytes; the decoded objects take a multiple of it on the heap)',
      'bytes',
    ),
  }
}
