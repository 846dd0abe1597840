export {
  ensureKafkaJars,
  checkJava,
  checkMaven,
  type KafkaJars,
  type EnsureKafkaJarsOptions,
} from './resolve.ts'
export {
  startKafka,
  type SecuredBrokerAccess,
  type KafkaHandle,
  type KafkaNodeInfo,
  type NodeCount,
  type StartKafkaOptions,
} from './cluster.ts'
export {
  SINGLE_NODE_BROKER_SETTINGS,
  THREE_NODE_BROKER_SETTINGS,
  BIND_HOST,
  serverProperties,
  renderProperties,
  type BrokerSettings,
} from './properties.ts'
export {
  startDaemon,
  stopDaemon,
  daemonStatus,
  readState,
  defaultPort,
  STATE_FILE,
  type DaemonState,
  type DaemonStatus,
} from './daemon.ts'
export { freePort, freePorts, isPortFree, isPortOpen, assertPortsFree } from './ports.ts'
export { describeClusterOnce, waitForCluster, type ClusterInfo, type ClientSecurity } from './wait.ts'
export { projectRoot, kafkaVersion, defaultDaemonDir } from './paths.ts'
export {
  DEV_SCRAM_USER,
  DEV_SCRAM_MECHANISM,
  keytoolCommand,
  type BrokerSecurity,
  type SecureClientFiles,
} from './security.ts'
