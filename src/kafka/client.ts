/** Builds kafkajs clients from the worker config, with logs bridged into pino. */
import { Kafka, logLevel as KafkaLogLevel, type KafkaConfig, type SASLOptions } from 'kafkajs'
import type { Logger } from 'pino'
import type { KafkaClientConfig } from '../config/worker-config.ts'
import { KafkaLogFilter, kafkaLogCreator } from './log-bridge.ts'

/**
 * A connection to a Kafka cluster, as the adapters of src/kafka take it and as users hand it to the
 * CommandClient (`kafka` option). Today a kafkajs client: code outside src/kafka names it by this type only
 * and passes it on, never calls it.
 */
export type KafkaConnection = Kafka

/**
 * `logFilter` decides the level of each kafkajs log line (see log-bridge.ts); a worker shares one between its
 * clients and tells it when it is up.
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
  }
  if (cfg.ssl) config.ssl = cfg.ssl === true ? true : cfg.ssl
  if (cfg.sasl) config.sasl = cfg.sasl as SASLOptions
  return new Kafka(config)
}
