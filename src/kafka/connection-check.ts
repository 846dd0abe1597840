/**
 * Fail fast on a secured cluster: wrong credentials and untrusted certificates are found at the first connect and
 * reported once, clearly, instead of being retried.
 *
 * kafkajs 2.2.4 bails out of a SASL failure at once (KafkaJSSASLAuthenticationError is not retriable), but a TLS
 * verification failure surfaces as a KafkaJSConnectionError carrying Node's code (SELF_SIGNED_CERT_IN_CHAIN,
 * ERR_TLS_CERT_ALTNAME_INVALID, ...) and connection errors are retriable: the broker pool retries the seed broker
 * with the client's retry settings (8 retries here, ~25 s), and a consumer or producer then retries again. So before
 * the first connect of any client built from a TLS or SASL config (createKafka gates connect() on it), one probe
 * connects to each broker in turn with no retries, until one answers: a SASL or TLS verification failure is a
 * ConfigError (KafkaAuthenticationError, KafkaTlsError: the CLI and the worker exit 2) naming the broker, what failed
 * and what to check; a broker that cannot be reached (refused, timed out) is left to the clients' own retries, as
 * without TLS. One probe per resolved config: a success or a failure is remembered, an unreachable cluster is asked
 * again by the next connect.
 */
import { Kafka, logLevel } from 'kafkajs'
import type { KafkaClientConfig } from '../config/kafka-config.ts'
import { KafkaAuthenticationError, KafkaTlsError } from '../errors.ts'
import { causes } from './errors.ts'
import { kafkaSecurityOptions } from './security.ts'

/** Node's codes of a certificate the client does not trust. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'CERT_CHAIN_TOO_LONG',
])
/** ... of a certificate that does not name the host connected to. */
const WRONG_NAME = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH'])
/** ... of a certificate outside its validity dates. */
const WRONG_DATES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
])
/** kafkajs error types of a refused SASL exchange. */
const SASL_TYPES = new Set(['SASL_AUTHENTICATION_FAILED', 'ILLEGAL_SASL_STATE', 'UNSUPPORTED_SASL_MECHANISM'])

/** Which TLS codes this module turns into a KafkaTlsError (for tests and docs). */
export function isTlsFailureCode(code: string): boolean {
  return (
    UNTRUSTED.has(code) ||
    WRONG_NAME.has(code) ||
    WRONG_DATES.has(code) ||
    code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    /^ERR_SSL_.*ALERT/.test(code)
  )
}

const host = (broker: string) => broker.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1')

/** What the TLS settings trust, for messages. */
function trusted(cfg: KafkaClientConfig): string {
  return cfg.ssl !== undefined && cfg.ssl !== true && cfg.ssl.ca !== undefined
    ? `now ${cfg.ssl.ca}`
    : "now none: the system's default CAs are used"
}

/**
 * A definitive connection failure, as the error to throw; undefined for anything else (unreachable, timed out, a
 * broker still starting), which the clients' retries handle.
 */
export function classifyConnectError(
  e: unknown,
  broker: string,
  cfg: KafkaClientConfig,
): KafkaAuthenticationError | KafkaTlsError | undefined {
  for (const c of causes(e)) {
    const name = typeof c.name === 'string' ? c.name : ''
    const type = typeof c.type === 'string' ? c.type : ''
    const message = typeof c.message === 'string' ? c.message : String(c.message)
    if (name === 'KafkaJSSASLAuthenticationError' || SASL_TYPES.has(type)) {
      const s = cfg.sasl
      const who = s ? `SASL ${s.mechanism.toUpperCase()} as user "${s.username}"` : 'SASL'
      const err = new KafkaAuthenticationError(
        `Kafka authentication failed at broker ${broker}: ${who} was refused (${message}). ` +
          (type === 'ILLEGAL_SASL_STATE'
            ? 'The listener at this address does not take SASL: connect to its SASL listener, or remove kafka.sasl. '
            : `Check the password (${s ? `read from ${s.password.source}` : 'KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE'}), ` +
              'the user name (KAFKA_SASL_USERNAME or kafka.sasl.username) and the mechanism (KAFKA_SASL_MECHANISM or ' +
              'kafka.sasl.mechanism): the user needs credentials for this mechanism on the cluster, and the listener must ' +
              'enable it. ') +
          'Not retried: credentials do not fix themselves.',
      )
      err.broker = broker
      return err
    }
    const code = typeof c.code === 'string' ? c.code : ''
    if (code === '' || !isTlsFailureCode(code)) continue
    const reason = message.replace(/^Connection error: /, '')
    let what: string
    if (UNTRUSTED.has(code))
      what =
        `the certificate of broker ${broker} is not trusted (${code}: ${reason}). Check kafka.ssl.ca ` +
        `(KAFKA_SSL_CA_FILE; ${trusted(cfg)}): it must name a PEM file with the CA certificate that signed the ` +
        "broker's certificate (or the chain up to it)."
    else if (WRONG_NAME.has(code))
      what =
        `the certificate of broker ${broker} does not name "${host(broker)}" (${code}: ${reason}). Connect by a ` +
        'host name or IP address the certificate lists in its subjectAltName (kafka.brokers or KAFKA_BROKERS, and the ' +
        "brokers' advertised listeners), or have the certificate reissued with this name."
    else if (WRONG_DATES.has(code))
      what =
        `the certificate of broker ${broker} is outside its validity dates (${code}: ${reason}). Renew the ` +
        "broker's certificate, or check this machine's clock."
    else if (code === 'ERR_SSL_WRONG_VERSION_NUMBER')
      what =
        `broker ${broker} did not answer with TLS (${code}): the listener at this address is not a TLS listener. ` +
        'Connect to its SSL/SASL_SSL listener, or turn TLS off (kafka.ssl, KAFKA_SSL=false) for a plaintext one.'
    else
      what =
        `broker ${broker} refused the TLS handshake (${code}: ${reason}). If it requires client certificates ` +
        '(ssl.client.auth=required), set kafka.ssl.cert and kafka.ssl.key (KAFKA_SSL_CERT_FILE, KAFKA_SSL_KEY_FILE) ' +
        'to a certificate signed by a CA the broker trusts.'
    const err = new KafkaTlsError(`Kafka TLS check failed: ${what} Not retried.`)
    err.broker = broker
    err.tlsCode = code
    return err
  }
  return undefined
}

export type ProbeResult = { reached: true; broker: string } | { reached: false; reason: string }

export interface ProbeOptions {
  /** Bound on one broker's connect and authentication (default: the connection timeout + 5 s). */
  perBrokerTimeoutMs?: number
}

/**
 * Connects to each broker in turn (TCP, TLS, ApiVersions, SASL) with no retries, until one answers; throws the
 * KafkaAuthenticationError or KafkaTlsError the first definitive failure makes. Bounded: each broker by
 * perBrokerTimeoutMs.
 */
export async function probeKafka(cfg: KafkaClientConfig, o: ProbeOptions = {}): Promise<ProbeResult> {
  const perBroker = o.perBrokerTimeoutMs ?? cfg.connectionTimeoutMs + 5000
  const reasons: string[] = []
  for (const broker of cfg.brokers) {
    const kafka = new Kafka({
      clientId: `${cfg.clientId}-check`,
      brokers: [broker],
      ...kafkaSecurityOptions(cfg),
      connectionTimeout: cfg.connectionTimeoutMs,
      authenticationTimeout: Math.min(cfg.requestTimeoutMs, perBroker),
      requestTimeout: Math.min(cfg.requestTimeoutMs, perBroker),
      retry: { retries: 0 },
      logLevel: logLevel.NOTHING,
    })
    const admin = kafka.admin({ retry: { retries: 0 } })
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        admin.connect(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${perBroker} ms`)), perBroker)
        }),
      ])
      return { reached: true, broker }
    } catch (e) {
      const definitive = classifyConnectError(e, broker, cfg)
      if (definitive !== undefined) throw definitive
      reasons.push(`${broker}: ${(e as Error).message}`)
    } finally {
      clearTimeout(timer)
      await admin.disconnect().catch(() => undefined)
    }
  }
  return { reached: false, reason: reasons.join('; ') }
}

const checks = new WeakMap<KafkaClientConfig, Promise<ProbeResult>>()

/**
 * probeKafka once per resolved config: resolves once a broker answered (or none could be reached: the clients'
 * retries take over), rejects with the definitive failure, remembered for every later call.
 */
export function checkKafkaConnection(cfg: KafkaClientConfig): Promise<ProbeResult> {
  let check = checks.get(cfg)
  if (check === undefined) {
    check = probeKafka(cfg)
    checks.set(cfg, check)
    check.then(
      (r) => {
        if (!r.reached) checks.delete(cfg)
      },
      () => undefined,
    )
  }
  return check
}
