/**
 * Where a read of one aggregate, or of one view of a projection, is answered. The worker whose task holds the
 * partition answers it from its committed state (an aggregate's snapshots and index: the topology's commands
 * partition; a view: the projection's repartition partition of the view key); any other worker forwards the
 * request to that owner, found in the consumer group (the topology's, or the projection's `<name>` group;
 * OwnerDirectory: src/kafka/owner-directory.ts reads each member's advertised endpoint and assignment). One hop
 * only: a forwarded request (header x-decider-forwarded) is answered here or refused, never forwarded again. When
 * the owner is not known for sure (the group is rebalancing, the owner advertises no endpoint, the lookup failed)
 * the answer is 503 with a code and a retry hint, never a guess.
 *
 * Topologies and projections share one name space (each name is a consumer group id): the directory and
 * ownerFailed() are keyed by name.
 */
import { ConfigError } from '../errors.ts'
import { partitionOf } from '../kafka/partitioner.ts'

/** Marks a forwarded request; a worker never forwards a request that carries it. */
export const FORWARDED_HEADER = 'x-decider-forwarded'
/** Names the worker that answered (its advertised URL, else its id); also `answeredBy` in JSON bodies. */
export const ANSWERED_BY_HEADER = 'x-decider-answered-by'
/** Names the worker that forwarded the request to the one that answered. */
export const FORWARDED_BY_HEADER = 'x-decider-forwarded-by'

export type OwnerLookup =
  | { found: true; url: string; memberId: string }
  | {
      found: false
      code: 'rebalancing' | 'no_owner' | 'not_advertised' | 'lookup_failed'
      reason: string
    }

/** Which worker owns a partition of a topology or projection (implemented over the consumer group in src/kafka). */
export interface OwnerDirectory {
  /** `fresh` skips the cached view of the group. */
  ownerOf(name: string, partition: number, o?: { fresh?: boolean }): Promise<OwnerLookup>
  /** Drops the cached view of a topology's or projection's group (it rebalanced, or its owner did not answer). */
  invalidate(name: string): void
}

/** What routing needs of the worker's runners: which partitions this worker holds a task for right now. */
export interface RoutableRunner {
  readonly name: string
  readonly tasks: ReadonlyMap<number, unknown>
}

export interface Unavailable {
  at: 'unavailable'
  status: 503
  body: { error: string; code: string; partition: number; retryAfterMs: number }
}

export type Location = { at: 'local' } | { at: 'owner'; url: string; partition: number } | Unavailable

/** What a routed read is about: a decider topology's aggregates or a projection's views. */
export type RoutedKind = 'topology' | 'projection'

export interface AggregateRouter {
  /** This worker's name in answers: its advertised URL, else an id. */
  readonly self: string
  /** Where a read of an aggregate is answered (the partition of its id in the commands topic). */
  locate(topology: string, aggregateId: string, forwarded: boolean): Promise<Location>
  /** Where a read of a view is answered (the partition of its key, as UTF-8 bytes, in the repartition topic). */
  locateView(projection: string, key: string, forwarded: boolean): Promise<Location>
  /** Where a partition of a topology or projection is answered. */
  locatePartition(kind: RoutedKind, name: string, partition: number, forwarded: boolean): Promise<Location>
  /** The owner did not answer, or answered that it no longer owns the partition (`name`: topology or projection). */
  ownerFailed(name: string): void
}

/** How long a client should wait before asking again while a group settles. */
export const RETRY_AFTER_MS = 1000

/** A topology or a projection as routing needs it: its name (= its consumer group) and partition count. */
export interface RoutedGroup {
  definition: { name: string; partitions: number }
}

export interface RouterOptions {
  topologies: readonly RoutedGroup[]
  runners: () => Iterable<RoutableRunner>
  /** The projections this worker runs and their runners: their views are routed like aggregates. */
  projections?: readonly RoutedGroup[]
  projectionRunners?: () => Iterable<RoutableRunner>
  directory: OwnerDirectory
  /** This worker's advertised URL (what other workers see in the group), else an id. */
  self: string
  /** This worker's advertised URL, when it has one: an owner named by this URL is this worker. */
  advertisedUrl?: string
}

export function aggregateRouter(o: RouterOptions): AggregateRouter {
  const groupsOf = (kind: RoutedKind) =>
    kind === 'topology'
      ? { groups: o.topologies, runners: o.runners }
      : { groups: o.projections ?? [], runners: o.projectionRunners ?? (() => []) }
  const locatePartition = async (
    kind: RoutedKind,
    name: string,
    partition: number,
    forwarded: boolean,
  ): Promise<Location> => {
    const { groups, runners } = groupsOf(kind)
    // Unknown name, or its runner not started yet: the local handlers say so (404 / 503 starting).
    if (!groups.some((g) => g.definition.name === name)) return { at: 'local' }
    const runner = [...runners()].find((r) => r.name === name)
    if (runner === undefined) return { at: 'local' }
    if (runner.tasks.has(partition)) return { at: 'local' }
    const unavailable = (code: string, error: string): Unavailable => ({
      at: 'unavailable',
      status: 503,
      body: { error: `${error}; try again`, code, partition, retryAfterMs: RETRY_AFTER_MS },
    })
    if (forwarded)
      return unavailable(
        'not_owner',
        `this worker was asked as the owner of partition ${partition} of ${kind} ${name} but does not hold it (the partition moved)`,
      )
    let owner = await o.directory.ownerOf(name, partition)
    // The group names this worker, whose task is not there (yet, or any more): look again once.
    if (owner.found && owner.url === o.advertisedUrl)
      owner = await o.directory.ownerOf(name, partition, { fresh: true })
    if (!owner.found)
      return unavailable(
        owner.code,
        `the owner of partition ${partition} of ${kind} ${name} is not known: ${owner.reason}`,
      )
    if (owner.url === o.advertisedUrl)
      return unavailable(
        'rebalancing',
        `the group assigns partition ${partition} of ${kind} ${name} to this worker, whose task is not open yet`,
      )
    return { at: 'owner', url: owner.url, partition }
  }
  return {
    self: o.self,
    ownerFailed: (name) => o.directory.invalidate(name),
    locatePartition,
    async locate(name, aggregateId, forwarded) {
      const topology = o.topologies.find((t) => t.definition.name === name)
      if (topology === undefined) return { at: 'local' }
      return locatePartition(
        'topology',
        name,
        partitionOf(aggregateId, topology.definition.partitions),
        forwarded,
      )
    },
    async locateView(name, key, forwarded) {
      const projection = o.projections?.find((p) => p.definition.name === name)
      if (projection === undefined) return { at: 'local' }
      return locatePartition(
        'projection',
        name,
        viewPartitionOf(key, projection.definition.partitions),
        forwarded,
      )
    },
  }
}

/** The repartition partition of a view key: its UTF-8 bytes, murmur2, as the router task writes it. */
export function viewPartitionOf(key: string, partitions: number): number {
  return partitionOf(Buffer.from(key, 'utf8'), partitions)
}

/** The (projection, key) of /views/<projection>/<key> (both URL-encoded); undefined for any other path. */
export function viewPath(url: string): { projection: string; key: string } | undefined {
  const m = /^\/views\/([^/]+)\/(.+)$/.exec(url)
  if (!m) return undefined
  try {
    const projection = decodeURIComponent(m[1]!)
    const key = decodeURIComponent(m[2]!)
    return projection !== '' && key !== '' ? { projection, key } : undefined
  } catch {
    return undefined // malformed percent-encoding: the local handler answers 400
  }
}

/** The (topology, aggregateId) an aggregate-scoped path names; undefined for any other path. */
export function aggregatePath(url: string): { topology: string; aggregateId: string } | undefined {
  const m = /^\/state\/([^/]+)\/(.+)$/.exec(url) ?? /^\/aggregates\/([^/]+)\/(.+)\/[^/]+$/.exec(url)
  if (!m) return undefined
  try {
    const topology = decodeURIComponent(m[1]!)
    const aggregateId = decodeURIComponent(m[2]!)
    return topology !== '' && aggregateId !== '' ? { topology, aggregateId } : undefined
  } catch {
    return undefined // malformed percent-encoding: the local handler answers 400
  }
}

/**
 * The URL this worker announces to its group: http.advertisedUrl (its origin) when set, with `{ip}` and
 * `{hostname}` replaced by this machine's (for replicas that share one config: containers, pods); else
 * http(s)://<host>:<port> of the bind when the host is a concrete address (https when the worker serves TLS);
 * undefined for a wildcard bind (0.0.0.0, ::) without one.
 */
export function advertisedUrlOf(
  host: string,
  port: number,
  configured?: string,
  machine: { ip?: string; hostname: string } = { hostname: '' },
  scheme: 'http' | 'https' = 'http',
): string | undefined {
  if (configured !== undefined) {
    const url = configured.replaceAll('{hostname}', machine.hostname).replaceAll('{ip}', () => {
      if (machine.ip === undefined)
        throw new ConfigError(
          `http.advertisedUrl ${configured}: this machine has no external IPv4 address for {ip}; give the address or {hostname}`,
        )
      return machine.ip.includes(':') ? `[${machine.ip}]` : machine.ip
    })
    return new URL(url).origin
  }
  if (host === '' || host === '0.0.0.0' || host === '::' || host === '[::]') return undefined
  return `${scheme}://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`
}
