/**
 * Which worker owns a partition of a topology or projection, read from its consumer group (a topology's over its
 * commands topic, a projection's `<name>` group over its repartition topic): DescribeGroups gives each
 * member's assignment (decoded with kafkajs' MemberAssignment) and subscription metadata, whose userData holds
 * the member's advertised HTTP endpoint (advertising-assigner.ts). Implements the OwnerDirectory port of
 * src/http/routing.ts, matched structurally (src/kafka does not import the http layer).
 *
 * The answer is cached per group for `ttlMs` and dropped on a rebalance of our own group (the worker calls
 * invalidate(): under kafkajs' eager protocol every member rejoins, so ours sees every rebalance), on a miss
 * (refreshed once), and whenever the caller asks for a fresh view. A group that is not Stable (joining,
 * syncing) has no trustworthy owners: the answer is then "rebalancing", never a guess.
 */
import { LazyAdmin } from './lazy-admin.ts'
import { AssignerProtocol, type GroupDescription } from 'kafkajs'
import type { KafkaConnection } from './client.ts'
import { decodeMemberEndpoint } from './advertising-assigner.ts'

export interface OwnedGroup {
  /** The topology's or projection's name, the key callers use (one name space: each name is a group id). */
  name: string
  groupId: string
  /** The topic whose partitions are assigned: a topology's commands topic, a projection's repartition topic. */
  topic: string
}

/** Same shape as OwnerLookup in src/http/routing.ts. */
export type OwnerAnswer =
  | { found: true; url: string; memberId: string }
  | {
      found: false
      code: 'rebalancing' | 'no_owner' | 'not_advertised' | 'lookup_failed'
      reason: string
    }

interface GroupView {
  state: string
  owners: Map<number, { memberId: string; url: string | undefined }>
}

export interface KafkaOwnerDirectoryOptions {
  /** How long a Stable view is trusted without a rebalance of our own (default 10 s). */
  ttlMs?: number
  /** Bound on one DescribeGroups (default 3 s): a read waits for it, so it must stay short. */
  lookupTimeoutMs?: number
  now?: () => number
}

export class KafkaOwnerDirectory {
  private readonly admin: LazyAdmin
  private readonly groups: Map<string, OwnedGroup>
  private readonly cache = new Map<string, { at: number; view: Promise<GroupView>; pending: boolean }>()
  private readonly ttlMs: number
  private readonly lookupTimeoutMs: number
  private readonly now: () => number

  constructor(
    private readonly kafka: KafkaConnection,
    groups: readonly OwnedGroup[],
    o: KafkaOwnerDirectoryOptions = {},
  ) {
    this.admin = new LazyAdmin(kafka)
    this.groups = new Map(groups.map((g) => [g.name, g]))
    this.ttlMs = o.ttlMs ?? 10_000
    this.lookupTimeoutMs = o.lookupTimeoutMs ?? 3_000
    this.now = o.now ?? Date.now
  }

  async ownerOf(name: string, partition: number, o: { fresh?: boolean } = {}): Promise<OwnerAnswer> {
    const group = this.groups.get(name)
    if (group === undefined)
      return { found: false, code: 'no_owner', reason: `no consumer group known for ${name}` }
    const cached = this.cache.get(name)
    // A view being fetched now is as fresh as it gets: share it (refresh() does).
    if (o.fresh || cached === undefined || cached.pending || this.now() - cached.at >= this.ttlMs)
      return this.answer(group, partition, this.refresh(group))
    const answer = await this.answer(group, partition, cached.view)
    // A miss in a cached view: the group may have moved on since; look once more.
    if (answer.found || answer.code === 'lookup_failed') return answer
    return this.answer(group, partition, this.refresh(group))
  }

  /** Forgets the view of a topology's or projection's group (it is rebalancing, or an owner did not answer). */
  invalidate(name: string): void {
    this.cache.delete(name)
  }

  async close(): Promise<void> {
    this.cache.clear()
    await this.admin.close()
  }

  /** One DescribeGroups per group at a time: concurrent misses share it. */
  private refresh(group: OwnedGroup): Promise<GroupView> {
    const cached = this.cache.get(group.name)
    if (cached?.pending) return cached.view
    const view = this.describe(group)
    const entry = { at: this.now(), view, pending: true }
    this.cache.set(group.name, entry)
    // Only Stable views are worth keeping; a failed or transitional one is asked again next time.
    view.then(
      (v) => {
        entry.pending = false
        if (v.state !== 'Stable' && this.cache.get(group.name) === entry) this.cache.delete(group.name)
      },
      () => {
        entry.pending = false
        if (this.cache.get(group.name) === entry) this.cache.delete(group.name)
      },
    )
    return view
  }

  private async answer(group: OwnedGroup, partition: number, view: Promise<GroupView>): Promise<OwnerAnswer> {
    let v: GroupView
    try {
      v = await view
    } catch (e) {
      return {
        found: false,
        code: 'lookup_failed',
        reason: `describing consumer group ${group.groupId} failed: ${(e as Error).message}`,
      }
    }
    if (v.state !== 'Stable')
      return {
        found: false,
        code: 'rebalancing',
        reason: `consumer group ${group.groupId} is ${v.state} (rebalancing): its owners are not settled`,
      }
    const owner = v.owners.get(partition)
    if (owner === undefined)
      return {
        found: false,
        code: 'no_owner',
        reason: `no member of consumer group ${group.groupId} has partition ${partition} of ${group.topic}`,
      }
    if (owner.url === undefined)
      return {
        found: false,
        code: 'not_advertised',
        reason:
          `the member that owns partition ${partition} (${owner.memberId}) advertises no HTTP endpoint ` +
          '(HTTP disabled, bound to a wildcard address without http.advertisedUrl, or an older version)',
      }
    return { found: true, url: owner.url, memberId: owner.memberId }
  }

  private async describe(group: OwnedGroup): Promise<GroupView> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.lookupTimeoutMs} ms`)),
        this.lookupTimeoutMs,
      )
    })
    try {
      const admin = await Promise.race([this.admin.get(), timeout])
      const { groups } = await Promise.race([admin.describeGroups([group.groupId]), timeout])
      return groupView(
        groups.find((g) => g.groupId === group.groupId),
        group.topic,
      )
    } finally {
      clearTimeout(timer)
    }
  }
}

/** partition -> owning member (and its endpoint) of `topic`, from a DescribeGroups answer. */
export function groupView(g: GroupDescription | undefined, topic: string): GroupView {
  const owners: GroupView['owners'] = new Map()
  if (g === undefined) return { state: 'Dead', owners }
  for (const m of g.members) {
    const assignment =
      m.memberAssignment.length > 0 ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null
    const partitions = assignment?.assignment[topic] ?? []
    let url: string | undefined
    try {
      const metadata =
        m.memberMetadata.length > 0 ? AssignerProtocol.MemberMetadata.decode(m.memberMetadata) : null
      url = decodeMemberEndpoint(metadata?.userData)?.http
    } catch {
      url = undefined // metadata of another client: no endpoint
    }
    for (const p of partitions) owners.set(p, { memberId: m.memberId, url })
  }
  return { state: g.state, owners }
}
