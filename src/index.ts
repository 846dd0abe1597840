/** Public API of kafka-decider. */
export { defineDecider, reject, isRejection, fold } from './domain/decider.ts'
export type {
  Decider,
  DeciderDefinition,
  DecideContext,
  Rejection,
  MessageOf,
  StateOf,
  CommandOf,
  EventOf,
} from './domain/decider.ts'
export type {
  CommandEnvelope,
  EventEnvelope,
  ReplyEnvelope,
  ReplyStatus,
  SnapshotRecord,
} from './domain/envelopes.ts'
export { loadTopology, fromDecider, type Topology } from './topology/loader.ts'
export {
  CommandClient,
  type CommandClientOptions,
  type SendOptions,
  type CommandTransport,
  type CommandRecord,
  type ReplyRecord,
} from './client/command-client.ts'
export {
  EventStoreClient,
  type EventStoreClientOptions,
  type LoggedEvent,
  type StoredEvent,
  type Subscription,
  type TopologyRef,
} from './client/event-store.ts'
export { TopologyTestDriver, given, type CrashPoint } from './testing/index.ts'
