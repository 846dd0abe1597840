import { Kafka, logLevel, type KafkaConfig } from 'kafkajs'
import { setTimeout as sleep } from 'node:timers/promises'

export interface WaitForClusterOptions {
  /** Bootstrap addresses to ask. */
  brokers: string[]
  /** Node ids that must all be in the cluster metadata. */
  nodeIds: number[]
  timeoutMs?: number
  /** Checked between attempts: a returned message aborts the wait (e.g. "the java process exited with code 1"). */
  failed?: () => string | undefined
  /** TLS and SASL options of a secured broker's client listener (security.ts probeSecurity). */
  client?: ClientSecurity
}

/** kafkajs' TLS and SASL options, for a secured broker. */
export type ClientSecurity = Pick<KafkaConfig, 'ssl' | 'sasl'>

export interface ClusterInfo {
  clusterId: string
  controller: number | null
  brokers: { nodeId: number; host: string; port: number }[]
}

/** One describeCluster round trip through a throwaway admin client that does not retry on its own. */
export async function describeClusterOnce(
  brokers: string[],
  timeoutMs = 3000,
  client: ClientSecurity = {},
): Promise<ClusterInfo> {
  const kafka = new Kafka({
    clientId: 'devkafka-probe',
    brokers,
    ...client,
    logLevel: logLevel.NOTHING,
    connectionTimeout: Math.min(timeoutMs, 2000),
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  })
  const admin = kafka.admin({ retry: { retries: 0 } })
  try {
    await admin.connect()
    return await admin.describeCluster()
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}

/**
 * Waits until the cluster answers describeCluster with every expected node in its metadata (bounded).
 * Throws on timeout or when `failed()` reports a problem; the caller adds log excerpts.
 */
export async function waitForCluster(opts: WaitForClusterOptions): Promise<ClusterInfo> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000)
  let last = 'no answer yet'
  while (Date.now() < deadline) {
    const failure = opts.failed?.()
    if (failure) throw new Error(failure)
    try {
      const info = await describeClusterOnce(opts.brokers, 3000, opts.client)
      const seen = new Set(info.brokers.map((b) => b.nodeId))
      const missing = opts.nodeIds.filter((id) => !seen.has(id))
      if (missing.length === 0) return info
      last = `cluster metadata lists nodes [${[...seen].join(', ')}], still missing [${missing.join(', ')}]`
    } catch (err) {
      last = (err as Error).message
    }
    await sleep(250)
  }
  const failure = opts.failed?.()
  if (failure) throw new Error(failure)
  throw new Error(
    `timed out after ${opts.timeoutMs ?? 60_000} ms waiting for ${opts.brokers.join(',')} (${last})`,
  )
}
