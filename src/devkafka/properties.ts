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
  port: number
  controllerPort: number
}

/** Full server.properties content of one node of a cluster made of `all` (1 or 3 nodes). */
export function serverProperties(
  node: NodeAddress,
  all: readonly NodeAddress[],
  logDir: string,
): Record<string, string> {
  const base: BrokerSettings = all.length === 1 ? SINGLE_NODE_BROKER_SETTINGS : THREE_NODE_BROKER_SETTINGS
  return {
    ...base,
    'node.id': String(node.nodeId),
    'controller.quorum.voters': all.map((n) => `${n.nodeId}@${BIND_HOST}:${n.controllerPort}`).join(','),
    listeners: `PLAINTEXT://${BIND_HOST}:${node.port},CONTROLLER://${BIND_HOST}:${node.controllerPort}`,
    'advertised.listeners': `PLAINTEXT://${BIND_HOST}:${node.port}`,
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
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
