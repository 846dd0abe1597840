/**
 * GET /cluster: the overview of the web console. Every topology's and projection's partitions with their owner
 * (as the consumer groups name it: the owner directory, routing.ts), the owner's task state and consumer lag,
 * the standby replicas and how far behind they are, every worker's readiness, and per group the counters of the
 * workers' own metrics (commands by outcome, events written, dead letters). This worker asks each other worker
 * named as an owner for its own part (GET /cluster?scope=local, with the caller's Authorization header and
 * x-decider-forwarded, bounded by the forward timeout) and merges the answers; a worker that does not answer is
 * listed with the error, its partitions without state. GET /cluster?scope=local answers this worker's part only.
 */
import type { ClusterAnswer, ClusterGroup, WorkerSnapshot } from './console-api.ts'
import { peerGet as defaultPeerGet, type PeerGet, type PeerTls } from './peer.ts'
import type { OwnerLookup } from './routing.ts'

export interface ClusterOptions {
  groups: readonly { name: string; kind: 'topology' | 'projection'; partitions: number }[]
  /** This worker's part (its tasks, standbys, readiness, counters). */
  local: () => Promise<WorkerSnapshot>
  /** The owners of partitions (undefined before the worker listens). */
  owners: () => { ownerOf(name: string, partition: number): Promise<OwnerLookup> } | undefined
  /** This worker's name: its advertised URL, else an id. */
  self: () => string
  timeoutMs: number
  peerGet?: PeerGet
  peerTls?: PeerTls
}

export type ClusterQuery = (
  query: URLSearchParams,
  caller: { authorization?: string | undefined },
) => Promise<{ status: number; body: unknown }>

export function clusterQuery(o: ClusterOptions): ClusterQuery {
  const get = o.peerGet ?? defaultPeerGet
  return async (query, caller) => {
    const scope = query.get('scope')
    if (scope !== null && scope !== 'local' && scope !== 'all')
      return {
        status: 400,
        body: { error: `scope must be local or all, got "${scope.slice(0, 40)}"`, code: 'bad_request' },
      }
    const local = await o.local()
    if (scope === 'local') return { status: 200, body: local }
    const directory = o.owners()
    const owners = new Map<string, OwnerLookup[]>()
    await Promise.all(
      o.groups.map(async (g) => {
        const list: OwnerLookup[] = []
        for (let p = 0; p < g.partitions; p++)
          list.push(
            directory === undefined
              ? { found: false, code: 'lookup_failed', reason: 'this worker is starting' }
              : await directory.ownerOf(g.name, p),
          )
        owners.set(g.name, list)
      }),
    )
    const urls = new Set<string>()
    for (const list of owners.values()) for (const l of list) if (l.found) urls.add(l.url)
    urls.delete(local.url)
    const peers = await Promise.all(
      [...urls].sort().map(async (url): Promise<WorkerSnapshot | { url: string; error: string }> => {
        const a = await get(url, '/cluster?scope=local', {
          self: o.self(),
          timeoutMs: o.timeoutMs,
          authorization: caller.authorization,
          tls: o.peerTls,
        })
        if (a.status !== 200)
          return { url, error: `${a.status} ${String(a.body.code ?? '')}: ${String(a.body.error ?? '')}` }
        return { ...(a.body as unknown as WorkerSnapshot), url }
      }),
    )
    return { status: 200, body: mergeCluster(o.self(), local, peers, o.groups, owners) }
  }
}

/** The answers of every worker and the groups' owners, as one overview. Pure. */
export function mergeCluster(
  self: string,
  local: WorkerSnapshot,
  peers: readonly (WorkerSnapshot | { url: string; error: string })[],
  groups: ClusterOptions['groups'],
  owners: ReadonlyMap<string, readonly OwnerLookup[]>,
): ClusterAnswer {
  const snapshots = [local, ...peers.filter((p): p is WorkerSnapshot => !('error' in p))]
  const byUrl = new Map(snapshots.map((s) => [s.url, s]))
  const out: ClusterGroup[] = groups.map((g) => {
    const counters = { commands: {} as Record<string, number>, events: 0, deadLetters: 0 }
    for (const s of snapshots) {
      const mine = s.groups.find((x) => x.name === g.name)
      if (mine === undefined) continue
      for (const [k, v] of Object.entries(mine.counters.commands))
        counters.commands[k] = (counters.commands[k] ?? 0) + v
      counters.events += mine.counters.events
      counters.deadLetters += mine.counters.deadLetters
    }
    const list = owners.get(g.name) ?? []
    const partitions = Array.from({ length: g.partitions }, (_, partition) => {
      const owner = list[partition]
      const ownerUrl = owner?.found ? owner.url : undefined
      const task = ownerUrl
        ? byUrl
            .get(ownerUrl)
            ?.groups.find((x) => x.name === g.name)
            ?.tasks.find((t) => t.partition === partition)
        : undefined
      const standbys = snapshots.flatMap((s) =>
        (s.groups.find((x) => x.name === g.name)?.standbys ?? [])
          .filter((b) => b.partition === partition)
          .map((b) => ({ url: s.url, lag: b.lag, caughtUp: b.caughtUp })),
      )
      return {
        partition,
        ...(ownerUrl !== undefined ? { owner: ownerUrl } : {}),
        ...(owner !== undefined && !owner.found ? { ownerError: `${owner.code}: ${owner.reason}` } : {}),
        ...(task !== undefined ? { state: task.state } : {}),
        lag: task?.lag ?? null,
        standbys,
      }
    })
    return { name: g.name, kind: g.kind, partitions, counters }
  })
  return {
    self,
    at: Date.now(),
    workers: [
      ...snapshots.map((s) => ({
        url: s.url,
        ready: s.ready,
        ...(s.reason !== undefined ? { reason: s.reason } : {}),
        ...(s.details !== undefined ? { details: s.details } : {}),
      })),
      ...peers
        .filter((p): p is { url: string; error: string } => 'error' in p)
        .map((p) => ({ url: p.url, ready: false, error: p.error })),
    ].sort((a, b) => a.url.localeCompare(b.url)),
    groups: out,
  }
}
