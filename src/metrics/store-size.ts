/** Size on disk of the LevelDB folders `decider_state_store_bytes` reports at scrape time. */
import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'

/** One LevelDB folder per (topology, partition). */
export type StoreDirs = Map<string, { topology: string; partition: string; dir: string }>

export async function dirSize(dir: string): Promise<number | undefined> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return undefined
  }
  let total = 0
  for (const n of names) {
    try {
      const s = await stat(path.join(dir, n))
      if (s.isFile()) total += s.size
    } catch {
      // a LevelDB file compacted away between readdir and stat
    }
  }
  return total
}
