/**
 * A runner's consumer-group memberships across restarts on the same state dir: before its groups are joined, the
 * members the previous process left behind (killed without leaving) are removed, so the new process joins at once
 * instead of after their session timeout; after every join, the new member id is recorded for the next start.
 * Only ids recorded in this state dir, only while holding its lock (state/member-record.ts), are ever removed: a
 * live member never is. Every step is best effort: failing, the group waits for the dead member to expire, as before.
 */
import type { Logger } from 'pino'
import type { KafkaConnection } from '../kafka/client.ts'
import { leaveAsMember } from '../kafka/dead-member.ts'
import { MemberRecord, memberRecordDir } from '../state/member-record.ts'

export interface GroupMembersOptions {
  stateDir: string
  /** The topology or projection: its record lives in `<stateDir>/<name>/members`. */
  name: string
  logger: Logger
}

export class GroupMembers {
  /** Record writes under way: close() lets them finish. */
  private readonly writes = new Set<Promise<void>>()

  private constructor(
    private readonly record: MemberRecord | undefined,
    private readonly logger: Logger,
  ) {}

  /** Takes the state dir's record (and its lock); without it (held by another process) nothing is removed or recorded. */
  static async acquire(o: GroupMembersOptions): Promise<GroupMembers> {
    const dir = memberRecordDir(o.stateDir, o.name)
    let record: MemberRecord | undefined
    try {
      record = await MemberRecord.acquire(dir)
      if (record === undefined)
        o.logger.warn(
          { dir },
          'another process holds this state dir (a worker with the same stateDir?): members of a killed worker are left to time out',
        )
    } catch (e) {
      o.logger.warn(
        { err: e, dir },
        'cannot open the group member record: members of a killed worker are left to time out',
      )
    }
    return new GroupMembers(record, o.logger)
  }

  /**
   * Has the coordinator remove the member this state dir last had in each group, if any (a previous process: this
   * one has not joined yet). At most `timeoutMs` per group, all at once.
   */
  async removeDead(kafka: KafkaConnection, groupIds: readonly string[], timeoutMs: number): Promise<void> {
    const record = this.record
    if (record === undefined) return
    await Promise.all(
      groupIds.map(async (groupId) => {
        const memberId = await record.previous(groupId).catch(() => undefined)
        if (memberId === undefined) return
        const started = performance.now()
        try {
          const outcome = await leaveAsMember(kafka, groupId, memberId, timeoutMs)
          this.logger.info(
            { groupId, memberId, outcome, ms: Math.round(performance.now() - started) },
            outcome === 'removed'
              ? "removed the previous process's member from the group (it was killed without leaving)"
              : "the previous process's member had left the group already",
          )
        } catch (e) {
          this.logger.warn(
            { err: e, groupId, memberId },
            "could not remove the previous process's member from the group: the join waits for its session timeout",
          )
        }
      }),
    )
  }

  /** For the consumer loop of `groupId`: records the member id of each join. */
  recorder(groupId: string): (memberId: string) => void {
    return (memberId) => {
      if (this.record === undefined) return
      const write = this.record
        .joined(groupId, memberId)
        .catch((e: unknown) => this.logger.warn({ err: e, groupId }, 'could not record the group member id'))
        .finally(() => this.writes.delete(write))
      this.writes.add(write)
    }
  }

  /** After the groups were left (the consumers disconnected): releases the state dir's record. */
  async close(): Promise<void> {
    await Promise.all(this.writes)
    await this.record?.close().catch(() => undefined)
  }
}
