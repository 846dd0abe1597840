/** `kafka-decider/client`: send commands to a topology from another Node service (no runtime, no LevelDB). */
export {
  CommandClient,
  ReplyTimeoutError,
  type CommandClientOptions,
  type SendOptions,
  type CommandTransport,
  type CommandRecord,
  type ReplyRecord,
} from './command-client.ts'
export type { CommandEnvelope, ReplyEnvelope, ReplyStatus } from '../domain/envelopes.ts'
