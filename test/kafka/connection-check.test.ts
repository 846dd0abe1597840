/**
 * Which connection failures are definitive (a ConfigError at the first connect) and what their messages say; the
 * gate createKafka puts before the first connect of a secured connection's clients. No broker: the errors are the
 * shapes kafkajs 2.2.4 throws (node_modules/kafkajs/src/network/connection.js, broker/saslAuthenticator).
 */
import {
  KafkaJSConnectionError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSSASLAuthenticationError,
} from 'kafkajs'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { resolveWorkerConfig } from '../../src/config/worker-config.ts'
import { ConfigError, KafkaAuthenticationError, KafkaTlsError } from '../../src/errors.ts'
import { createKafka } from '../../src/kafka/client.ts'
import { classifyConnectError, isTlsFailureCode } from '../../src/kafka/connection-check.ts'

const broker = '127.0.0.1:9093'
const scram = resolveWorkerConfig(
  { kafka: { brokers: [broker], ssl: true, sasl: { mechanism: 'scram-sha-512', username: 'svc' } } },
  { KAFKA_SASL_PASSWORD: 'hunter2' },
).kafka

// kafkajs' types declare no constructor argument; the class takes the message (errors.js).
const SaslError = KafkaJSSASLAuthenticationError as unknown as new (message: string) => Error

function tlsError(code: string, message: string) {
  return new KafkaJSConnectionError(`Connection error: ${message}`, { broker, code })
}

describe('classifyConnectError', () => {
  it('a refused SASL exchange: KafkaAuthenticationError naming broker, mechanism, user and where the password came from', () => {
    const e = classifyConnectError(
      new SaslError(
        'SASL SCRAM SHA512 authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512',
      ),
      broker,
      scram,
    )
    expect(e).toBeInstanceOf(KafkaAuthenticationError)
    expect(e).toBeInstanceOf(ConfigError)
    expect(e?.code).toBe('kafka_authentication_failed')
    expect((e as KafkaAuthenticationError).broker).toBe(broker)
    expect(e?.message).toMatch(
      /^Kafka authentication failed at broker 127\.0\.0\.1:9093: SASL SCRAM-SHA-512 as user "svc" was refused \(.*invalid credentials.*\)\. Check the password \(read from the environment variable KAFKA_SASL_PASSWORD\)/,
    )
    expect(e?.message).not.toContain('hunter2')
  })

  it('TLS verification codes, also under the retries kafkajs wraps them in: KafkaTlsError saying what to check', () => {
    const untrusted = classifyConnectError(
      new KafkaJSNumberOfRetriesExceeded(
        tlsError('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'),
        {
          retryCount: 8,
          retryTime: 100,
        },
      ),
      broker,
      scram,
    )
    expect(untrusted).toBeInstanceOf(KafkaTlsError)
    expect((untrusted as KafkaTlsError).tlsCode).toBe('SELF_SIGNED_CERT_IN_CHAIN')
    expect(untrusted?.message).toBe(
      'Kafka TLS check failed: the certificate of broker 127.0.0.1:9093 is not trusted (SELF_SIGNED_CERT_IN_CHAIN: ' +
        'self-signed certificate in certificate chain). Check kafka.ssl.ca (KAFKA_SSL_CA_FILE; now none: the ' +
        "system's default CAs are used): it must name a PEM file with the CA certificate that signed the broker's " +
        'certificate (or the chain up to it). Not retried.',
    )
    const name = classifyConnectError(
      tlsError('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"),
      'kafka-1.internal:9093',
      scram,
    )
    expect(name?.message).toMatch(/does not name "kafka-1\.internal" \(ERR_TLS_CERT_ALTNAME_INVALID/)
    expect(name?.message).toContain('subjectAltName')
    expect(
      classifyConnectError(tlsError('CERT_HAS_EXPIRED', 'certificate has expired'), broker, scram)?.message,
    ).toMatch(/outside its validity dates/)
    expect(
      classifyConnectError(
        tlsError('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tlsv13 alert certificate required'),
        broker,
        scram,
      )?.message,
    ).toMatch(/refused the TLS handshake .* set kafka\.ssl\.cert and kafka\.ssl\.key/)
    for (const code of [
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'SELF_SIGNED_CERT_IN_CHAIN',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'ERR_TLS_CERT_ALTNAME_INVALID',
      'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    ])
      expect(isTlsFailureCode(code), code).toBe(true)
  })

  it('anything else (refused, timed out, reset) is left to the retries', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT'])
      expect(classifyConnectError(tlsError(code, code), broker, scram)).toBeUndefined()
    expect(
      classifyConnectError(new KafkaJSConnectionError('Connection timeout', { broker }), broker, scram),
    ).toBeUndefined()
    expect(classifyConnectError(new Error('boom'), broker, scram)).toBeUndefined()
  })
})

describe('createKafka', () => {
  it('a plaintext config gets a plain kafkajs client; a TLS or SASL one a client that checks the cluster before its first connect', () => {
    const logger = pino({ level: 'silent' })
    const plain = resolveWorkerConfig({ kafka: { brokers: ['127.0.0.1:1'] } }, {}).kafka
    expect(createKafka(plain, 'x', logger).constructor.name).toBe('Client') // kafkajs' own class
    expect(createKafka(scram, 'x', logger).constructor.name).toBe('CheckedKafka')
    // (test/security/secured-broker.int.test.ts shows the check failing the first connect against a real broker)
  })
})
