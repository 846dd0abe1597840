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
  /** Header values as strings (the content type is read from here). */
  headers: Record<string, string>
}

export interface CommandTransport {
  /**
   * Writes records to the commands topic, each keyed record to its key's partition as kafkajs' default
   * (Java-compatible murmur2) partitioner picks it; resolves once every record is acknowledged.
   */
  send(records: CommandRecord[]): Promise<void>
  /**
   * Calls `onReplies` with the replies written from now on, each once its transaction committed (aborted
   * replies never). Resolves once listening; called once per transport.
   */
  listenForReplies(onReplies: (records: ReplyRecord[]) => void): Promise<void>
  close(): Promise<void>
}
