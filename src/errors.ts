/**
 * The one error model of kafka-decider. Every error class extends KafkaDeciderError and carries:
 * - `name`: the class name (set once, here);
 * - `code`: a stable snake_case identifier, safe to match on in code, logs and alerts;
 * - `recovery`: what the caller must do about it, classified as Kafka Streams classifies its errors:
 *
 *   recovery        | meaning                                                  | who acts, how
 *   ----------------|----------------------------------------------------------|-----------------------------------
 *   task-migrated   | another owner has the partition (fenced)                 | task manager: drop the task, let
 *                   |                                                          | the rebalance decide; never retry
 *   task-corrupted  | the task's view of Kafka or its store is unknown/behind  | task: re-initialise (new producer,
 *                   |                                                          | restore the changelog tail)
 *   retriable       | nothing was committed; the same work may simply be redone| task: abort, seek back, back off
 *   command         | one command failed alone                                 | processor: 'failed' reply + DLQ
 *   fatal           | configuration or programming error                       | worker: stop (exit 1) with message
 *   usage           | a CLI or API call is wrong                               | caller: fix the call (CLI exit 2)
 */

export type Recovery = 'task-migrated' | 'task-corrupted' | 'retriable' | 'command' | 'fatal' | 'usage'

export abstract class KafkaDeciderError extends Error {
  abstract readonly code: string
  abstract readonly recovery: Recovery

  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}

/** The recovery an error needs; errors that are not ours (a bug, a library) are fatal unless wrapped. */
export function recoveryOf(e: unknown): Recovery {
  return e instanceof KafkaDeciderError ? e.recovery : 'fatal'
}

// ---- configuration and usage ------------------------------------------------------------------------------

/** A worker config, topology file or option is invalid. The message says which and what to write instead. */
export class ConfigError extends KafkaDeciderError {
  readonly code: string = 'config_invalid'
  readonly recovery: Recovery = 'fatal'
}

/** A LevelDB store under the state dir belongs to another topology or partition. */
export class StoreMismatchError extends ConfigError {
  override readonly code: string = 'store_mismatch'
}

/** A CLI call is wrong (exit 2), with what to do instead. */
export class UsageError extends ConfigError {
  override readonly code: string = 'usage'
  override readonly recovery: Recovery = 'usage'
}

/** A position token of the sequential event read is not one a read handed out. */
export class InvalidPositionError extends UsageError {
  override readonly code: string = 'invalid_position'
}

/**
 * A query of `decider sql` or POST /sql that cannot run: DuckDB refuses it (syntax, an unknown table or column, a
 * type error), or the read-only route takes only one SELECT/WITH statement. The message says what and lists the
 * tables and their columns.
 */
export class SqlQueryError extends UsageError {
  override readonly code: string = 'sql_invalid'
}

/**
 * A bound of `decider sql` or POST /sql was passed: a table would load more rows than --max-rows, or reading the
 * topics and running the query took longer than --timeout.
 */
export class SqlLimitError extends KafkaDeciderError {
  readonly code = 'sql_limit_exceeded'
  readonly recovery: Recovery = 'usage'

  /** `limit`: which bound, the rows of a table or the time. */
  constructor(
    message: string,
    readonly limit: 'rows' | 'time' = 'rows',
  ) {
    super(message)
  }
}

/**
 * The consumer of a topology's group crashed with an error kafkajs does not restart after (CRASH, restart false):
 * the group is gone for good and the worker would do nothing while looking alive, so it stops (exit 1) for its
 * supervisor to restart it.
 */
export class ConsumerCrashedError extends KafkaDeciderError {
  readonly code = 'consumer_crashed'
  readonly recovery: Recovery = 'fatal'
}

/** A LevelDB store could not be opened (locked by another process, unreadable); the cause says why. */
export class StoreOpenError extends KafkaDeciderError {
  readonly code = 'store_open_failed'
  readonly recovery: Recovery = 'retriable'
}

/** Another process holds a LevelDB store (LevelDB allows one process per store). */
export class StoreInUseError extends KafkaDeciderError {
  readonly code = 'store_in_use'
  readonly recovery: Recovery = 'retriable'
}

// ---- the connection to Kafka ------------------------------------------------------------------------------

/**
 * A broker refused the SASL credentials (wrong password or user name, a mechanism the user has no credentials for or
 * the listener does not enable, SASL on a listener that does not take it). Found at the first connect and not retried:
 * the message names the broker, the mechanism and user, and where the password came from. The CLI and the worker exit 2.
 */
export class KafkaAuthenticationError extends ConfigError {
  override readonly code: string = 'kafka_authentication_failed'
  /** host:port of the broker that refused. */
  broker: string | undefined
}

/**
 * The TLS handshake with a broker failed on verification: its certificate is not signed by a trusted CA, does not name
 * the host connected to, has expired, or the broker refused this client's certificate (or its absence). Found at the
 * first connect and not retried; the message names the broker, the check that failed and the setting to fix.
 */
export class KafkaTlsError extends ConfigError {
  override readonly code: string = 'kafka_tls_failed'
  /** host:port of the broker. */
  broker: string | undefined
  /** Node's error code, e.g. SELF_SIGNED_CERT_IN_CHAIN, ERR_TLS_CERT_ALTNAME_INVALID. */
  tlsCode: string | undefined
}

// ---- task: what the commit sequence and the task lifecycle raise --------------------------------------------

/** Another owner initialised this partition's transactional id: close the task, never retry its commit. */
export class TaskFencedError extends KafkaDeciderError {
  readonly code = 'task_fenced'
  readonly recovery: Recovery = 'task-migrated'
}

/**
 * The task's transaction was open longer than processing.transactionTimeoutMs: the coordinator aborted it and
 * bumped the producer's epoch, so the producer's next call failed as fenced although no other owner took the
 * partition. Handled like a fence (the task closes; a fresh one starts while the partition is ours); a batch that
 * always takes this long loops, so it is reported with what to change.
 */
export class TransactionTimedOutError extends KafkaDeciderError {
  readonly code = 'transaction_timed_out'
  readonly recovery: Recovery = 'task-migrated'
}

/** The task was closed (revoked, fenced, shut down) while it was still initialising. */
export class TaskClosedError extends KafkaDeciderError {
  readonly code = 'task_closed'
  readonly recovery: Recovery = 'task-migrated'
}

/** commit() failed without a fencing error: the transaction may or may not have committed. */
export class TaskCommitUnknownError extends KafkaDeciderError {
  readonly code = 'commit_unknown'
  readonly recovery: Recovery = 'task-corrupted'
}

/** Kafka committed but the local store could not be written: restore the tail before going on. */
export class StoreBehindError extends KafkaDeciderError {
  readonly code = 'store_behind'
  readonly recovery: Recovery = 'task-corrupted'
}

/** The transaction failed before commit and its abort failed too: the producer is unusable. */
export class AbortFailedError extends KafkaDeciderError {
  readonly code = 'abort_failed'
  readonly recovery: Recovery = 'task-corrupted'
}

/** The private group of a sequential event read rebalanced (a handler held a batch too long): resume from its position. */
export class ReaderRejoinedError extends KafkaDeciderError {
  readonly code = 'reader_rejoined'
  readonly recovery: Recovery = 'retriable'
}

/**
 * A read through a worker's HTTP API failed: the worker could not be reached, or answered with an error (`status`
 * and the worker's own `reason` code, e.g. not_assigned: ask the worker that owns the partition).
 */
export class WorkerReadError extends KafkaDeciderError {
  readonly code = 'worker_read_failed'
  readonly recovery: Recovery = 'retriable'
  status: number | undefined
  reason: string | undefined
}

/** The transaction failed before commit and was aborted: nothing is visible, redo the batch. */
export class BatchAbortedError extends KafkaDeciderError {
  readonly code = 'batch_aborted'
  readonly recovery: Recovery = 'retriable'
}

/** kafkajs retried a produce request during one send: its records may be duplicated, so abort. */
export class ProduceRetriedError extends KafkaDeciderError {
  readonly code = 'produce_retried'
  readonly recovery: Recovery = 'retriable'
}

/** kafkajs reported a send done without a response for some partitions: their records may be missing. */
export class ProduceIncompleteError extends KafkaDeciderError {
  readonly code = 'produce_incomplete'
  readonly recovery: Recovery = 'retriable'
}

/** A lifecycle call in a state that does not allow it (a programming error). */
export class IllegalTaskTransitionError extends KafkaDeciderError {
  readonly code = 'illegal_transition'
  readonly recovery: Recovery = 'fatal'
}

// ---- commands -----------------------------------------------------------------------------------------------

// Each of these fails one command: a 'failed' reply (an 'invalid' one for InvalidTimestampError) and a dead letter
// whose kd-error-code is the class's code (DeadLetterReason in src/runtime/command-decoder.ts).

/** decide returned something that is not a declared event, or a malformed rejection: the command fails. */
export class InvalidDecisionError extends KafkaDeciderError {
  readonly code = 'invalid_decision'
  readonly recovery: Recovery = 'command'
}

/** decide or evolve threw (anything, an Error or not) under errors.onDecideError `fail-command`. */
export class DecideThrewError extends KafkaDeciderError {
  readonly code = 'decide_threw'
  readonly recovery: Recovery = 'command'
}

/** The decider's initialState() threw, for an aggregate without a snapshot. */
export class InitialStateThrewError extends KafkaDeciderError {
  readonly code = 'initial_state_threw'
  readonly recovery: Recovery = 'command'
}

/** The state after a command is not plain JSON-like data (src/domain/plain-data.ts); the message names the path. */
export class StateNotPlainError extends KafkaDeciderError {
  readonly code = 'state_not_plain'
  readonly recovery: Recovery = 'command'
}

/** An event payload decide returned is not plain JSON-like data; the message names the path. */
export class EventNotPlainError extends KafkaDeciderError {
  readonly code = 'event_not_plain'
  readonly recovery: Recovery = 'command'
}

/** A record the command would write (event, snapshot, reply) is above processing.maxRecordBytes. */
export class RecordTooLargeError extends KafkaDeciderError {
  readonly code = 'record_too_large'
  readonly recovery: Recovery = 'command'
}

/** metadata.issuedAt, or the record timestamp when it is used, is not a time a Date can hold: 'invalid'. */
export class InvalidTimestampError extends KafkaDeciderError {
  readonly code = 'invalid_timestamp'
  readonly recovery: Recovery = 'command'
}

/** A command failed (decide/evolve/initialState threw, or any other 'failed' outcome) under errors.onDecideError `stop`. */
export class DecideFailedError extends KafkaDeciderError {
  readonly code = 'decide_failed'
  readonly recovery: Recovery = 'fatal'
}

// ---- projections ----------------------------------------------------------------------------------------------

// Each fails one event of a projection: under errors.onProjectError `dead-letter`, a dead letter (kd-error-code is
// the class's code) and the event is skipped; under `stop`, ProjectionFailedError stops the worker.

/** key() of a projection returned something that cannot be a view key, or threw. */
export class ViewKeyError extends KafkaDeciderError {
  readonly code = 'view_key_invalid'
  readonly recovery: Recovery = 'command'
}

/** project() or initialState() of a projection threw, or returned a view that is not plain data. */
export class ProjectThrewError extends KafkaDeciderError {
  readonly code = 'project_threw'
  readonly recovery: Recovery = 'command'
}

/** A source event cannot be read (bad bytes, an unknown schemaVersion) for a projection. */
export class SourceEventInvalidError extends KafkaDeciderError {
  readonly code = 'source_event_invalid'
  readonly recovery: Recovery = 'command'
}

/** A projection failed on an event under errors.onProjectError `stop`. */
export class ProjectionFailedError extends KafkaDeciderError {
  readonly code = 'projection_failed'
  readonly recovery: Recovery = 'fatal'
}

// ---- stored history: events and snapshots the running code cannot read ------------------------------------

// Each names the aggregate, the event (version, type, schemaVersion) or snapshot, and what to do. They stop the
// worker (stopsTheWorker): the code and the stored data disagree, which only a deploy or a rebuild fixes.

/** A stored event's schemaVersion is higher than the running decider knows for its type: newer code wrote it. */
export class EventVersionUnknownError extends KafkaDeciderError {
  readonly code = 'event_version_unknown'
  readonly recovery: Recovery = 'fatal'
}

/** An upcaster threw, or the payload it made fails the event type's current schema. */
export class UpcastFailedError extends KafkaDeciderError {
  readonly code = 'upcast_failed'
  readonly recovery: Recovery = 'fatal'
}

/**
 * A snapshot written under another stateVersion cannot be rebuilt from its events: no per-aggregate event source
 * (run `decider rebuild`), or the events do not reach the snapshot's version.
 */
export class StaleSnapshotError extends KafkaDeciderError {
  readonly code = 'stale_snapshot'
  readonly recovery: Recovery = 'fatal'
}

/** Errors a task raises that must stop the worker rather than be retried: a `stop` policy, unreadable history. */
export function stopsTheWorker(e: unknown): boolean {
  return (
    e instanceof DecideFailedError ||
    e instanceof ProjectionFailedError ||
    e instanceof EventVersionUnknownError ||
    e instanceof UpcastFailedError ||
    e instanceof StaleSnapshotError
  )
}

// ---- clients ------------------------------------------------------------------------------------------------

/** No reply to a command within the caller's timeout (no worker running, or a worker far behind). */
export class ReplyTimeoutError extends KafkaDeciderError {
  readonly code = 'reply_timeout'
  readonly recovery: Recovery = 'retriable'
}

// ---- testing ------------------------------------------------------------------------------------------------

/** Thrown inside a task by the TopologyTestDriver to simulate the process dying at a commit step. */
export class SimulatedCrash extends KafkaDeciderError {
  readonly code = 'simulated_crash'
  readonly recovery: Recovery = 'fatal'
}

/** A given/when/then specification did not hold; the message shows expected and actual. */
export class SpecFailedError extends KafkaDeciderError {
  readonly code = 'spec_failed'
  readonly recovery: Recovery = 'fatal'
}
