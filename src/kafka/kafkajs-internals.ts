/**
 * kafkajs 2.2.4's private cluster factory, `Kafka[Symbol('private:Kafka:createCluster')]`: what its producer,
 * consumer and admin are built on (metadata, connections with the client's brokers, TLS and SASL settings, and
 * every request). Used where kafkajs has no public call: Fetch without a group (partition-fetcher.ts) and a
 * LeaveGroup on a dead member's behalf (dead-member.ts). kafkajs is pinned at 2.2.4, its last release; the
 * integration tests of both fail if this changes.
 */
import type { Kafka } from 'kafkajs'

const CREATE_CLUSTER = 'private:Kafka:createCluster'

/** A new internal cluster of `kafka` (not connected). `what` names the caller in the error when there is none. */
export function internalCluster<T>(kafka: Kafka, options: object, what: string): T {
  const key = Object.getOwnPropertySymbols(kafka).find((s) => s.description === CREATE_CLUSTER)
  const create = key === undefined ? undefined : (kafka as unknown as Record<symbol, unknown>)[key]
  if (typeof create !== 'function')
    throw new Error(`this kafkajs has no internal cluster factory (kafkajs 2.2.4 has): cannot ${what}`)
  return (create as (o: object) => T).call(kafka, options)
}
