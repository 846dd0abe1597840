/**
 * The consumer-group member ids this worker had, kept in its state dir: `<stateDir>/<name>/members`, a small LevelDB
 * of group id -> the member id of the last join.
 *
 * Holding it open is the proof the groups' recorded members are dead ones: LevelDB locks its folder (an OS lock,
 * released when the process ends, SIGKILL included), so while this process holds it no other live process can have
 * recorded or be using those ids. A worker restarted on the same state dir reads the previous process's member id
 * and has the coordinator remove it (dead-member.ts) instead of waiting for its session to time out.
 */
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { Level } from 'level'

/** The folder of the record of a topology or projection `name`, beside its partitions' stores. */
export function memberRecordDir(stateDir: string, name: string): string {
  return path.join(stateDir, name, 'members')
}

export class MemberRecord {
  private closed = false

  private constructor(
    private readonly db: Level<string, string>,
    readonly dir: string,
  ) {}

  /**
   * Opens (creates) the record and so takes its lock. Undefined when another process holds it (a live worker on
   * the same state dir): its recorded members may be alive, so this worker must neither remove nor record any.
   */
  static async acquire(dir: string): Promise<MemberRecord | undefined> {
    await mkdir(dir, { recursive: true })
    // Tiny: a few keys. No block cache, a small write buffer.
    const db = new Level<string, string>(dir, { cacheSize: 0, writeBufferSize: 64 * 1024 })
    try {
      await db.open()
    } catch (e) {
      if (isLocked(e)) return undefined
      throw e
    }
    return new MemberRecord(db, dir)
  }

  /** The member id this state dir last had in `groupId` (a process that no longer runs: see above). */
  async previous(groupId: string): Promise<string | undefined> {
    return this.db.get(groupId)
  }

  /** After each join: the member id the coordinator gave this worker in `groupId`. */
  async joined(groupId: string, memberId: string): Promise<void> {
    if (!this.closed) await this.db.put(groupId, memberId)
  }

  /** Releases the lock (after the groups were left). */
  async close(): Promise<void> {
    this.closed = true
    await this.db.close()
  }
}

export function isLocked(e: unknown): boolean {
  for (let c: unknown = e; c instanceof Error; c = c.cause) {
    if ((c as { code?: string }).code === 'LEVEL_LOCKED') return true
  }
  return false
}
