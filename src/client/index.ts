/**
 * `kafka-decider/client`: for other Node services: send commands (CommandClient), read events (EventStoreClient),
 * query the views of projections (ViewClient).
 */
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
  type DeciderOf,
  type DeciderSource,
  type EventsOptions,
  type LoggedEvent,
  type ReadAllOptions,
  type StoredEvent,
  type SubscribeOptions,
  type Subscription,
  type TopologyRef,
  type TypedEventEnvelope,
  type TypedLoggedEvent,
} from './event-store.ts'
export type { EventEnvelope } from '../domain/envelopes.ts'
export {
  ViewClient,
  views,
  type ViewClientOptions,
  type ViewAnswer,
  type ViewEntry,
  type ViewPage,
  type GetViewOptions,
  type ListOptions,
  type EventPosition,
  type CommandReply,
} from './view-client.ts'
export { WorkerReadError, KafkaAuthenticationError, KafkaTlsError } from '../errors.ts'
export { loadWorkerConfig, type WorkerConfig, type KafkaClientConfig } from '../config/worker-config.ts'
