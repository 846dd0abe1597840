/** Public API of kafka-decider. */
import './kafka/preload.ts' // first: before kafkajs loads (see the module)
export { defineDecider, reject, isRejection, fold, eventVersionOf, stateVersionOf } from './domain/decider.ts'
export type {
  Upcaster,
  UpcasterChain,
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
export { upcastEvent, upcastEvents, isSnapshotCurrent } from './domain/upcasting.ts'
export {
  correction,
  correctedHistory,
  type CorrectionLink,
  type CorrectedBy,
  type CorrectedHistory,
  type RecordedEvent,
} from './domain/corrections.ts'
export { eventsForReading, type HistoryView } from './domain/event-reads.ts'
export { stateAsOf, type AsOf, type StateAsOf } from './domain/as-of.ts'
export {
  defineProjection,
  projectAll,
  type AnyProjection,
  type Projection,
  type ProjectionDefinition,
  type ProjectedEvent,
  type ProjectResult,
  type ViewOf,
} from './domain/projection.ts'
export { loadTopology, fromDecider, type Topology } from './topology/loader.ts'
export { loadProjection, type ProjectionTopology } from './topology/projection-loader.ts'
export {
  CommandClient,
  type CommandClientOptions,
  type SendOptions,
  type CommandTransport,
  type CommandRecord,
  type ReplyRecord,
  type SentRecord,
} from './client/command-client.ts'
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
} from './client/event-store.ts'
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
} from './client/view-client.ts'
export { loadWorkerConfig, type WorkerConfig, type KafkaClientConfig } from './config/worker-config.ts'
export { KafkaAuthenticationError, KafkaTlsError } from './errors.ts'
export { TopologyTestDriver, given, type CrashPoint } from './testing/index.ts'
