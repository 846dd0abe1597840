/** `kafka-decider/client`: for other Node services: send commands (CommandClient), read events (EventStoreClient). */
export {
  CommandClient,
  ReplyTimeoutError,
  type CommandClientOptions,
  type SendOptions,
  type CommandTransport,
  type CommandRecord,
  type ReplyRecord,
  type SentRecord,
} from './command-client.ts'
export type { CommandEnvelope, ReplyEnvelope, ReplyStatus } from '../domain/envelopes.ts'
export {
  EventStoreClient,
  type EventStoreClientOptions,
  type LoggedEvent,
  type StoredEvent,
  type Subscription,
  type TopologyRef,
} from './event-store.ts'
export type { EventEnvelope } from '../domain/envelopes.ts'
