/** Builds kafkajs clients from the worker config, with logs bridged into pino. */
import { connect, isIP } from 'node:net'
import tls from 'node:tls'
import {
  Kafka,
  logLevel as KafkaLogLevel,
  type ISocketFactory,
  type Admin,
  type AdminConfig,
  type Consumer,
  type ConsumerConfig,
  type KafkaConfig,
  type Producer,
  type ProducerConfig,
} from 'kafkajs'
import type { Logger } from 'pino'
import type { KafkaClientConfig } from '../config/kafka-config.ts'
import { checkKafkaConnection } from './connection-check.ts'
import { KafkaLogFilter, kafkaLogCreator } from './log-bridge.ts'
import { isSecured, kafkaSecurityOptions } from './security.ts'

/**
 * A connection to a Kafka cluster, as the adapters of src/kafka take it and as users hand it to the
 * CommandClient (`kafka` option). Today a kafkajs client: code outside src/kafka names it by this type only
 * and passes it on, never calls it.
 */
export type KafkaConnection = Kafka

/**
 * `logFilter` decides the level of each kafkajs log line (see log-bridge.ts); a worker shares one between its
 * clients and tells it when it is up. With TLS or SASL the connection checks the cluster before the first connect of
 * any of its clients (./connection-check.ts): wrong credentials and untrusted certificates fail that connect at once
 * with a KafkaAuthenticationError or KafkaTlsError instead of being retried.
 */
export function createKafka(
  cfg: KafkaClientConfig,
  clientId: string,
  logger: Logger,
  logFilter: KafkaLogFilter = new KafkaLogFilter(),
): KafkaConnection {
  const config: KafkaConfig = {
    clientId,
    brokers: cfg.brokers,
    connectionTimeout: cfg.connectionTimeoutMs,
    requestTimeout: cfg.requestTimeoutMs,
    logLevel: KafkaLogLevel.INFO,
    logCreator: kafkaLogCreator(logger, logFilter),
    retry: { initialRetryTime: 100, retries: 8 },
    socketFactory: noDelaySockets,
    ...kafkaSecurityOptions(cfg),
  }
  return isSecured(cfg) ? new CheckedKafka(config, () => checkKafkaConnection(cfg)) : new Kafka(config)
}

/**
 * kafkajs' socket factory, with Nagle's algorithm off (TCP_NODELAY), as the Java client and the broker have it.
 * kafkajs leaves it on: a request written while an earlier one on the connection is unacknowledged, or the tail of
 * a request longer than a segment, then waits for the broker's (delayed) ACK.
 */
const noDelaySockets: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket = ssl
    ? tls.connect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...ssl }, onConnect)
    : connect({ host, port }, onConnect)
  socket.setNoDelay(true)
  socket.setKeepAlive(true, 60_000)
  return socket
}

/** A kafkajs client whose producers, consumers and admins run `check` before they connect. */
class CheckedKafka extends Kafka {
  constructor(
    config: KafkaConfig,
    private readonly check: () => Promise<unknown>,
  ) {
    super(config)
  }

  override producer(config?: ProducerConfig): Producer {
    return this.gated(super.producer(config))
  }

  override consumer(config: ConsumerConfig): Consumer {
    return this.gated(super.consumer(config))
  }

  override admin(config?: AdminConfig): Admin {
    return this.gated(super.admin(config))
  }

  private gated<T extends { connect(): Promise<void> }>(client: T): T {
    const connect = client.connect.bind(client)
    client.connect = async () => {
      await this.check()
      await connect()
    }
    return client
  }
}
