/**
 * Errors are classified by the recovery they need (as in Kafka Streams):
 * - TaskFencedError: another owner took the partition; close the task, never retry its commit.
 * - TaskCommitUnknownError: the commit outcome is unknown; re-initialise the task (new producer, re-read state).
 * - RetriableTaskError: abort the transaction, seek back, try the batch again.
 * - FatalError: configuration or programming error; stop the worker with the message.
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
export class RetriableTaskError extends KafkaDeciderError {}
/** decide threw and the topology's policy is `stop`. */
export class DecideFailedError extends KafkaDeciderError {}

export const isFenced = (e: unknown): e is TaskFencedError => e instanceof TaskFencedError
