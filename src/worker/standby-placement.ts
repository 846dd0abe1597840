/**
 * The glue between the group and the standbys of one topology in this worker:
 * - what the member says when it joins (decider-assigner.ts): the partitions it runs, and how far each store it
 *   holds is (running tasks, standbys, and stores left on disk, read once at start);
 * - which standbys the leader gave it: kafkajs hands a member only its topic assignment, so after each join the
 *   member reads its own assignment's userData back with DescribeGroups, once the group is Stable.
 */
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import { standbysOf, type MemberState } from '../kafka/decider-assigner.ts'
import { LevelSnapshotStore, storeDir } from '../state/level-store.ts'
import type { Topology } from '../topology/loader.ts'

/** Changelog checkpoint offsets of the stores of `topology` under `stateDir` (stores another process holds are skipped). */
export async function storesOnDisk(
  stateDir: string,
  topology: Topology,
  logger: Logger,
): Promise<Map<number, bigint>> {
  const name = topology.definition.name
  const out = new Map<number, bigint>()
  let entries: string[]
  try {
    entries = await readdir(path.join(stateDir, name))
  } catch {
    return out
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue
    const p = Number(e)
    if (p >= topology.definition.partitions) continue
    try {
      const store = await LevelSnapshotStore.open(storeDir(stateDir, name, p), {
        topology: name,
        changelogTopic: topology.topics.changelog,
        partition: p,
      })
      try {
        const c = await store.readCheckpoint()
        if (c !== undefined) out.set(p, c.changelogOffset)
      } finally {
        await store.close()
      }
    } catch (err) {
      logger.debug({ err, partition: p }, 'store on disk not readable for the assigner; ignored')
    }
  }
  return out
}

/** What the placement needs of kafkajs' admin (matched structurally: src/worker imports no kafkajs). */
export interface GroupDescriber {
  describeGroups(groupIds: string[]): Promise<{
    groups: { state: string; members: { memberId: string; memberAssignment: Buffer }[] }[]
  }>
}

export interface StandbyPlacementOptions {
  admin: GroupDescriber
  groupId: string
  logger: Logger
  /** Tries of DescribeGroups after a join before giving up until the next join (250 ms apart). */
  tries?: number
}

export class StandbyPlacement {
  private joins = 0
  /** Last known offset per store this member holds (stores on disk at start, then standbys and tasks). */
  readonly stores = new Map<number, bigint>()

  constructor(private readonly o: StandbyPlacementOptions) {}

  /** This member's state for the assigner, from its running tasks' and standbys' store offsets. */
  memberState(active: readonly number[], live: Iterable<[number, bigint | undefined]>): MemberState {
    for (const [p, offset] of live) if (offset !== undefined) this.stores.set(p, offset)
    return { active: [...active], stores: new Map(this.stores) }
  }

  /**
   * After a join: this member's standbys as the leader assigned them (undefined when a newer join came first, or
   * the group did not settle within the tries).
   */
  async standbysAfterJoin(memberId: string): Promise<number[] | undefined> {
    const join = ++this.joins
    const tries = this.o.tries ?? 40
    for (let i = 0; i < tries && join === this.joins; i++) {
      try {
        const { groups } = await this.o.admin.describeGroups([this.o.groupId])
        const g = groups[0]
        const me = g?.members.find((m) => m.memberId === memberId)
        if (g?.state === 'Stable' && me !== undefined)
          return join === this.joins ? standbysOf(me.memberAssignment) : undefined
      } catch (err) {
        this.o.logger.debug({ err }, 'DescribeGroups for the standby assignment failed; retrying')
      }
      await new Promise((r) => setTimeout(r, 250))
    }
    if (join === this.joins)
      this.o.logger.warn({ memberId }, 'standby assignment not read: the group did not settle')
    return undefined
  }
}
