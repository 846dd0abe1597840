/** Builds kafkajs clients from the worker config, with logs bridged into pino. */
import { Kafka, logLevel as KafkaLogLevel, type KafkaConfig, type SASLOptions } from 'kafkajs'
import type { Logger } from 'pino'
import type { KafkaClientConfig } from '../config/worker-config.ts'

/**
 * A connection to a Kafka cluster, as the adapters of src/kafka take it and as users hand it to the
 * CommandClient (`kafka` option). Today a kafkajs client: code outside src/kafka names it by this type only
 * and passes it on, never calls it.
 */
export type KafkaConnection = Kafka

export function createKafka(cfg: KafkaClientConfig, clientId: string, logger: Logger): KafkaConnection {
  const config: KafkaConfig = {
    clientId,
    brokers: cfg.brokers,
    connectionTimeout: cfg.connectionTimeoutMs,
    requestTimeout: cfg.requestTimeoutMs,
    logLevel: KafkaLogLevel.INFO,
    logCreator: () => (entry) => {
      const { message, ...extra } = entry.log
      const lg = logger.child({ component: 'kafkajs', namespace: entry.namespace })
      // kafkajs logs expected, retried conditions (coordinator moves, rebalances, a fenced producer) at
      // ERROR/WARN; the worker reports what matters itself, so they go to warn/debug.
      if (entry.level <= KafkaLogLevel.ERROR) lg.warn(extra, message)
      else lg.debug(extra, message)
    },
    retry: { initialRetryTime: 100, retries: 8 },
  }
  if (cfg.ssl) config.ssl = cfg.ssl === true ? true : cfg.ssl
  if (cfg.sasl) config.sasl = cfg.sasl as SASLOptions
  return new Kafka(config)
}
