/**
 * Broker settings of the local Apache Kafka launcher. The port-independent ones are exported as constants so that
 * docker-compose.yml can be checked against them (test/compose/compose.test.ts).
 */

export type BrokerSettings = Readonly<Record<string, string>>

/** Settings of the single combined broker+controller node (also mirrored by the `kafka` service of docker-compose.yml). */
export const SINGLE_NODE_BROKER_SETTINGS = {
  'process.roles': 'broker,controller',
  'node.id': '1',
  'controller.listener.names': 'CONTROLLER',
  'inter.broker.listener.name': 'PLAINTEXT',
  'offsets.topic.replication.factor': '1',
  'transaction.state.log.replication.factor': '1',
  'transaction.state.log.min.isr': '1',
  'share.coordinator.state.topic.replication.factor': '1',
  'share.coordinator.state.topic.min.isr': '1',
  'auto.create.topics.enable': 'false',
  'group.initial.rebalance.delay.ms': '0',
} as const satisfies BrokerSettings

/** Settings of each node of the 3-node cluster (node.id is set per node). */
export const THREE_NODE_BROKER_SETTINGS = {
  'process.roles': 'broker,controller',
  'controller.listener.names': 'CONTROLLER',
  'inter.broker.listener.name': 'PLAINTEXT',
  'default.replication.factor': '3',
  'min.insync.replicas': '2',
  'offsets.topic.replication.factor': '3',
  'transaction.state.log.replication.factor': '3',
  'transaction.state.log.min.isr': '2',
  'share.coordinator.state.topic.replication.factor': '3',
  'share.coordinator.state.topic.min.isr': '2',
  'auto.create.topics.enable': 'false',
  'group.initial.rebalance.delay.ms': '0',
  // A killed node is fenced (and its partitions get new leaders) after this long without heartbeats;
  // the default 9 s makes failover tests needlessly slow.
  'broker.session.timeout.ms': '6000',
  'broker.heartbeat.interval.ms': '1000',
} as const satisfies BrokerSettings

export const BIND_HOST = '127.0.0.1'

export interface NodeAddress {
  nodeId: number
  /** The client listener: PLAINTEXT, or SASL_SSL on a secured broker. */
  port: number
  controllerPort: number
  /** Secured broker only: the PLAINTEXT listener of inter-broker traffic. */
  internalPort?: number
}

/** The client listener of a secured broker: its keystore and truststore (see security.ts). */
export interface SecureListener {
  keystoreFile: string
  truststoreFile: string
  storePassword: string
}

/**
 * The listeners of a secured node: clients on SASL_SSL with SCRAM-SHA-512 (the `port`), a client certificate asked for
 * (ssl.client.auth=requested: verified against the dev CA when one is sent); inter-broker traffic (also a
 * broker's transaction markers to itself) on a PLAINTEXT listener and the controller on its PLAINTEXT one, both on
 * 127.0.0.1 only. Listener-prefixed settings (`listener.name.sasl_ssl.*`) as the Kafka security docs describe them;
 * no inter-broker SASL, so the broker needs no credentials of its own.
 */
function secureListenerProperties(node: NodeAddress, tls: SecureListener): Record<string, string> {
  if (node.internalPort === undefined) throw new Error('devkafka: a secured node needs an internal port')
  return {
    listeners: `SASL_SSL://${BIND_HOST}:${node.port},PLAINTEXT://${BIND_HOST}:${node.internalPort},CONTROLLER://${BIND_HOST}:${node.controllerPort}`,
    'advertised.listeners': `SASL_SSL://${BIND_HOST}:${node.port},PLAINTEXT://${BIND_HOST}:${node.internalPort}`,
    'listener.security.protocol.map': 'SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'listener.name.sasl_ssl.sasl.enabled.mechanisms': 'SCRAM-SHA-512',
    'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config':
      'org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'listener.name.sasl_ssl.ssl.keystore.type': 'PKCS12',
    'listener.name.sasl_ssl.ssl.keystore.location': tls.keystoreFile,
    'listener.name.sasl_ssl.ssl.keystore.password': tls.storePassword,
    'listener.name.sasl_ssl.ssl.key.password': tls.storePassword,
    // A client certificate is asked for, not required: one signed by the dev CA is accepted (mutual TLS can be
    // tried), any other refused; clients without one authenticate with SCRAM alone.
    'listener.name.sasl_ssl.ssl.client.auth': 'requested',
    'listener.name.sasl_ssl.ssl.truststore.type': 'PKCS12',
    'listener.name.sasl_ssl.ssl.truststore.location': tls.truststoreFile,
    'listener.name.sasl_ssl.ssl.truststore.password': tls.storePassword,
  }
}

/** Full server.properties content of one node of a cluster made of `all` (1 or 3 nodes). */
export function serverProperties(
  node: NodeAddress,
  all: readonly NodeAddress[],
  logDir: string,
  secure?: SecureListener,
): Record<string, string> {
  const base: BrokerSettings = all.length === 1 ? SINGLE_NODE_BROKER_SETTINGS : THREE_NODE_BROKER_SETTINGS
  return {
    ...base,
    'node.id': String(node.nodeId),
    'controller.quorum.voters': all.map((n) => `${n.nodeId}@${BIND_HOST}:${n.controllerPort}`).join(','),
    listeners: `PLAINTEXT://${BIND_HOST}:${node.port},CONTROLLER://${BIND_HOST}:${node.controllerPort}`,
    'advertised.listeners': `PLAINTEXT://${BIND_HOST}:${node.port}`,
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    ...(secure ? secureListenerProperties(node, secure) : {}),
    'log.dirs': logDir,
    // The log cleaner allocates its dedupe buffer (default 128 MB) when it starts: with the small heaps of the
    // tests (256 MB) that OOMed the broker at start-up now and then. 32 MB is plenty for local topics.
    'log.cleaner.dedupe.buffer.size': String(32 * 1024 * 1024),
  }
}

/** Renders a Java .properties file (values here never need escaping beyond backslashes). */
export function renderProperties(props: Readonly<Record<string, string>>): string {
  return (
    Object.entries(props)
      .map(([k, v]) => `${k}=${v.replace(/\\/g, '\\\\')}`)
      .join('\n') + '\n'
  )
}

/** log4j2 configuration sending the broker's log to one file. */
export function log4j2Yaml(logFile: string): string {
  return `Configuration:
  name: devkafka
  Appenders:
    File:
      name: FILE
      fileName: ${JSON.stringify(logFile)}
      append: true
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: FILE
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: INFO
`
}
