/** The TLS and SASL options of a kafkajs client, from the resolved `kafka` config section. */
import { readFileSync } from 'node:fs'
import type { ConnectionOptions } from 'node:tls'
import type { KafkaConfig, SASLOptions } from 'kafkajs'
import type { KafkaClientConfig } from '../config/kafka-config.ts'
import { ConfigError } from '../errors.ts'

function read(path: string, setting: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    throw new ConfigError(
      `${setting}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    )
  }
}

/**
 * kafkajs' `ssl` and `sasl` options. The PEM files are read here, when a client is built (the config holds their
 * paths only); the password is revealed only into the kafkajs options.
 */
export function kafkaSecurityOptions(cfg: KafkaClientConfig): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const out: Pick<KafkaConfig, 'ssl' | 'sasl'> = {}
  if (cfg.ssl === true) out.ssl = true
  else if (cfg.ssl !== undefined) {
    const tls: ConnectionOptions = {}
    if (cfg.ssl.ca !== undefined) tls.ca = [read(cfg.ssl.ca, 'kafka.ssl.ca')]
    if (cfg.ssl.cert !== undefined) tls.cert = read(cfg.ssl.cert, 'kafka.ssl.cert')
    if (cfg.ssl.key !== undefined) tls.key = read(cfg.ssl.key, 'kafka.ssl.key')
    if (cfg.ssl.rejectUnauthorized !== undefined) tls.rejectUnauthorized = cfg.ssl.rejectUnauthorized
    out.ssl = tls
  }
  if (cfg.sasl !== undefined) {
    out.sasl = {
      mechanism: cfg.sasl.mechanism,
      username: cfg.sasl.username,
      password: cfg.sasl.password.reveal(),
    } as SASLOptions
  }
  return out
}

/** Whether the config asks for TLS or SASL: then the first connect is checked (./connection-check.ts). */
export function isSecured(cfg: KafkaClientConfig): boolean {
  return cfg.ssl !== undefined || cfg.sasl !== undefined
}
