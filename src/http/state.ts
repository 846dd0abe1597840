/**
 * GET /state/<topology>/<aggregateId>: the committed snapshot of an aggregate, read from the task of this
 * worker that owns the aggregate's partition (its cache of committed snapshots, else its store: never state
 * of an open transaction). Read-only; nothing here is logged (snapshots hold user data).
 *
 *   200 { partition, aggregateId, version, state, recent, sourceOffset }   (what `decider state` prints)
 *   404 { error, code: 'unknown_topology' | 'not_assigned' | 'no_snapshot', ... }
 *   503 { error, code: 'starting' | 'not_running' | 'read_failed', ... }   (try again)
 */
import type { SnapshotRecord } from '../domain/envelopes.ts'
import { partitionOf } from '../kafka/partitioner.ts'
import { TaskState } from '../runtime/task-state.ts'

export interface StateResponse {
  status: 200 | 400 | 404 | 422 | 503
  body: Record<string, unknown>
}

/** Answers a state request for (topology name, aggregate id). */
export type StateQuery = (topology: string, aggregateId: string) => Promise<StateResponse>

/** What the query needs of a Task. */
export interface QueryableTask {
  readonly state: TaskState
  committedSnapshot(aggregateId: string): Promise<SnapshotRecord | undefined>
}

/** What the query needs of a TopologyRunner: its name and its tasks by partition. */
export interface QueryableRunner {
  readonly name: string
  readonly tasks: ReadonlyMap<number, QueryableTask>
}

/**
 * A StateQuery over the worker's topologies (name -> partition count) and its runners, looked up on each
 * request (runners start one after the other; tasks come and go with rebalances).
 */
export function stateQuery(
  topologies: readonly TopologyInfo[],
  runners: () => Iterable<QueryableRunner>,
): StateQuery {
  return async (name, aggregateId) => {
    const found = runningTask(topologies, runners, name, (t) =>
      partitionOf(aggregateId, t.definition.partitions),
    )
    if ('status' in found) return found
    const { task, partition } = found
    let snapshot: SnapshotRecord | undefined
    try {
      snapshot = await task.committedSnapshot(aggregateId)
    } catch (e) {
      // E.g. the task closed (revoked) while reading.
      return {
        status: 503,
        body: {
          error: `reading the snapshot of partition ${partition} failed: ${(e as Error).message}; try again`,
          code: 'read_failed',
          partition,
        },
      }
    }
    if (snapshot === undefined) {
      return {
        status: 404,
        body: {
          error: `aggregate ${aggregateId} has no committed snapshot in partition ${partition} of topology ${name}`,
          code: 'no_snapshot',
          partition,
        },
      }
    }
    return { status: 200, body: { partition, ...snapshot } }
  }
}

/** A topology as the queries need it: its name and partition count. */
export interface TopologyInfo {
  definition: { name: string; partitions: number }
}

/**
 * The RUNNING task of this worker for (topology, partition), or the answer saying why there is none (unknown
 * topology, starting, not assigned, not running). The HTTP reads (state, events) share it.
 */
export function runningTask<T extends QueryableTask>(
  topologies: readonly TopologyInfo[],
  runners: () => Iterable<{ readonly name: string; readonly tasks: ReadonlyMap<number, T> }>,
  name: string,
  partitionOfTopology: (t: TopologyInfo) => number,
): { task: T; partition: number } | StateResponse {
  const topology = topologies.find((t) => t.definition.name === name)
  if (topology === undefined) {
    const known = topologies.map((t) => t.definition.name).join(', ')
    return {
      status: 404,
      body: {
        error: `this worker does not run topology ${name} (it runs: ${known || 'none'})`,
        code: 'unknown_topology',
      },
    }
  }
  const runner = [...runners()].find((r) => r.name === name)
  if (runner === undefined)
    return {
      status: 503,
      body: { error: `topology ${name} is starting on this worker; try again`, code: 'starting' },
    }
  const partition = partitionOfTopology(topology)
  const task = runner.tasks.get(partition)
  if (task === undefined) {
    return notAssigned('topology', name, partition, runner.tasks)
  }
  if (task.state !== TaskState.RUNNING) {
    return {
      status: 503,
      body: {
        error: `the task of partition ${partition} is ${task.state}; try again when it is RUNNING`,
        code: 'not_running',
        partition,
        taskState: task.state,
      },
    }
  }
  return { task, partition }
}

/** 404 not_assigned: the partition's task is not on this worker (the caller reads this worker's tasks only). */
export function notAssigned(
  kind: 'topology' | 'projection',
  name: string,
  partition: number,
  tasks: ReadonlyMap<number, unknown>,
): { status: 404; body: Record<string, unknown> } {
  const assigned = [...tasks.keys()].sort((x, y) => x - y)
  return {
    status: 404,
    body: {
      error: `partition ${partition} of ${kind} ${name} is not assigned to this worker (assigned: ${assigned.join(', ') || 'none'}); ask the worker that owns it`,
      code: 'not_assigned',
      partition,
      assigned,
    },
  }
}
