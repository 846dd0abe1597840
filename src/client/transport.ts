/**
 * What the CommandClient needs from Kafka: write records to the commands topic, and hear the committed
 * records of the replies topic. src/kafka/command-transport.ts implements it over kafkajs.
 */

export interface CommandRecord {
  key: string | Buffer | null
  value: Buffer | null
  headers?: Record<string, string | Buffer>
}

export interface ReplyRecord {
  value: Buffer | null
  /**
   * Header values as strings: the content type, and kd-source-partition and kd-source-offset, where the command
   * record it answers is (replies written by workers older than these headers have none).
   */
  headers: Record<string, string>
}

/** Where a record was written in the commands topic. */
export interface SentRecord {
  partition: number
  /** Its offset, in decimal. */
  offset: string
}

export interface CommandTransport {
  /**
   * Writes records to the commands topic, each keyed record to its key's partition as kafkajs' default
   * (Java-compatible murmur2) partitioner picks it; resolves once every record is acknowledged, with where each
   * was written, in the order of `records`. (The CommandClient tells the reply to its own record from an earlier
   * record's reply by it; a transport that resolves without positions gets the matching by aggregateId and
   * commandId alone.)
   */
  send(records: CommandRecord[]): Promise<SentRecord[]>
  /**
   * Calls `onReplies` with the replies written from now on, each once its transaction committed (aborted
   * replies never). Resolves once listening; called once per transport.
   */
  listenForReplies(onReplies: (records: ReplyRecord[]) => void): Promise<void>
  close(): Promise<void>
}
