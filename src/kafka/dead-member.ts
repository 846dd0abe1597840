/**
 * Removes a dead member from a consumer group: a LeaveGroup on its behalf, sent to the group's coordinator.
 *
 * Why: a worker killed without leaving (SIGKILL, OOM, a lost machine) stays a member until its session times out
 * (consumer.sessionTimeoutMs, 30 s by default). Restarted meanwhile, the new process's join waits for that: the
 * coordinator holds the rebalance until every known member has rejoined or expired. Kafka's remedy is static
 * membership (group.instance.id), which kafkajs 2.2.4 does not have. The worker instead records its member id in
 * its state dir at every join (state/member-record.ts) and, at the next start and before joining, asks the
 * coordinator to remove that member; the state dir's lock proves the process that had it is gone.
 *
 * kafkajs has no public call for a LeaveGroup with another member's id, so this uses the client's own (private)
 * cluster factory, with the client's brokers, TLS and SASL settings, and the broker's leaveGroup request (the one
 * its consumers send on disconnect). Bounded by `timeoutMs`; a member the coordinator does not know any more (its
 * session had expired, it left cleanly) is not an error.
 */
import type { KafkaConnection } from './client.ts'
import { internalCluster } from './kafkajs-internals.ts'

interface Coordinator {
  leaveGroup(o: { groupId: string; memberId: string }): Promise<unknown>
}

interface InternalCluster {
  connect(): Promise<void>
  disconnect(): Promise<void>
  findGroupCoordinator(o: { groupId: string }): Promise<Coordinator>
}

/** 'removed': the coordinator dropped the member; 'unknown': it had no such member (gone already). */
export type LeaveOutcome = 'removed' | 'unknown'

/** Kafka's answers meaning "no such member to remove". */
const GONE = new Set(['UNKNOWN_MEMBER_ID', 'GROUP_ID_NOT_FOUND'])

export async function leaveAsMember(
  kafka: KafkaConnection,
  groupId: string,
  memberId: string,
  timeoutMs: number,
): Promise<LeaveOutcome> {
  const cluster = internalCluster<InternalCluster>(
    kafka,
    { allowAutoTopicCreation: false },
    'send a LeaveGroup',
  )
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer from the coordinator of group ${groupId} within ${timeoutMs} ms`)),
      timeoutMs,
    )
  })
  try {
    const leave = (async (): Promise<LeaveOutcome> => {
      await cluster.connect()
      const coordinator = await cluster.findGroupCoordinator({ groupId })
      try {
        await coordinator.leaveGroup({ groupId, memberId })
        return 'removed'
      } catch (e) {
        if (GONE.has((e as { type?: string }).type ?? '')) return 'unknown'
        throw e
      }
    })()
    leave.catch(() => undefined) // settled after a timeout: nobody waits for it any more
    return await Promise.race([leave, timeout])
  } finally {
    clearTimeout(timer)
    await cluster.disconnect().catch(() => undefined)
  }
}
