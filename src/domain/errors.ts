/**
 * Errors are classified by the recovery they need (as in Kafka Streams):
 * - TaskFencedError: another owner took the partition; close the task, never retry its commit.
 * - TaskCommitUnknownError: the commit outcome is unknown; re-initialise the task (new producer, re-read state).
 * - BatchAbortedError (runtime/commit.ts): aborted before commit; seek back and try the batch again.
 * - StoreBehindError (runtime/commit.ts): committed but LevelDB not written; re-initialise (restore the tail).
 * - FatalError / ConfigError: configuration or programming error; stop the worker with the message.
 */
export class KafkaDeciderError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}

export class ConfigError extends KafkaDeciderError {}
export class FatalError extends KafkaDeciderError {}
export class TaskFencedError extends KafkaDeciderError {}
export class TaskCommitUnknownError extends KafkaDeciderError {}
/** decide threw and the topology's policy is `stop`. */
export class DecideFailedError extends KafkaDeciderError {}
