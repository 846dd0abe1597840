/**
 * The stateVersion rule at the task (README "Event versioning"): a snapshot written under another stateVersion than
 * the running decider's is not trusted. It is rebuilt from its aggregate's events (upcast) from the
 * task's event index (AggregateEvents), O(events of that aggregate). `decider rebuild` rewrites every snapshot under
 * the new stateVersion at once, when a deploy should not pay the rebuilds as aggregates are first touched.
 */
import type { SnapshotRecord } from '../domain/envelopes.ts'
import { isSnapshotCurrent, rebuildSnapshot } from '../domain/upcasting.ts'
import type { Topology } from '../topology/loader.ts'
import type { AggregateEvents } from './ports.ts'

/**
 * The snapshots as loaded from a task's store, each stale one replaced by its rebuild (a StaleSnapshotError from
 * rebuildSnapshot when evolve cannot fold an old event: it names the event and stops the worker).
 */
export async function trustedSnapshots(
  loaded: readonly (SnapshotRecord | undefined)[],
  topology: Pick<Topology, 'decider' | 'file'>,
  events: AggregateEvents,
): Promise<(SnapshotRecord | undefined)[]> {
  const { decider } = topology
  const out = [...loaded]
  for (let i = 0; i < out.length; i++) {
    const s = out[i]
    if (s === undefined || isSnapshotCurrent(decider, s)) continue
    out[i] = rebuildSnapshot(decider, s, await events.eventsOf(s.aggregateId))
  }
  return out
}
