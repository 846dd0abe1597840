/**
 * The stateVersion rule at the task (README "Event versioning"): a snapshot written under another stateVersion than
 * the running decider's is not trusted. It is rebuilt from its aggregate's events (upcast) through the task's
 * AggregateEvents port, O(events of that aggregate); a task without that port cannot, and stops the worker with
 * what to do (run `decider rebuild`, which rewrites every snapshot under the new stateVersion).
 */
import { stateVersionOf } from '../domain/decider.ts'
import type { SnapshotRecord } from '../domain/envelopes.ts'
import { isSnapshotCurrent, rebuildSnapshot } from '../domain/upcasting.ts'
import { StaleSnapshotError } from '../errors.ts'
import type { Topology } from '../topology/loader.ts'
import type { AggregateEvents } from './ports.ts'

/** The snapshots as loaded from the store of task `taskId`, each stale one replaced by its rebuild. */
export async function trustedSnapshots(
  loaded: readonly (SnapshotRecord | undefined)[],
  topology: Pick<Topology, 'decider' | 'file'>,
  events: AggregateEvents | undefined,
  taskId: string,
): Promise<(SnapshotRecord | undefined)[]> {
  const { decider } = topology
  const out = [...loaded]
  for (let i = 0; i < out.length; i++) {
    const s = out[i]
    if (s === undefined || isSnapshotCurrent(decider, s)) continue
    if (events === undefined) {
      throw new StaleSnapshotError(
        `task ${taskId}: the snapshot of aggregate ${s.aggregateId} (version ${s.version}) was written under stateVersion ${s.stateVersion ?? 1}, this decider has stateVersion ${stateVersionOf(decider)}, so it is not trusted; ` +
          `this worker has no per-aggregate event index to rebuild it from its events. Stop the workers and run \`decider rebuild ${topology.file}\` (it rewrites every snapshot under the new stateVersion), then start them again`,
      )
    }
    out[i] = rebuildSnapshot(decider, s, await events.eventsOf(s.aggregateId))
  }
  return out
}
