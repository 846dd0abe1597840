/**
 * Where each worker can be asked, carried by the consumer group itself: a kafkajs partition assigner that wraps the
 * assigner the worker has always used (kafkajs' round robin) and only adds the member's HTTP endpoint to its
 * subscription metadata (`userData`). The protocol name, version and assignment stay the inner assigner's, so a
 * group of older and newer workers agrees on the protocol and the partitions land exactly where they did before.
 * Any worker reads the endpoints back from DescribeGroups (owner-directory.ts).
 *
 * userData format (version 1): UTF-8 JSON `{"v":1,"http":"<advertised url>"}`; empty when the worker advertises
 * nothing (no HTTP, or bound to a wildcard address without http.advertisedUrl).
 */
import { AssignerProtocol, PartitionAssigners, type PartitionAssigner } from 'kafkajs'

export interface MemberEndpoint {
  /** The worker's advertised HTTP URL, e.g. http://10.0.0.7:9464. */
  http: string
}

/** userData for a member that advertises `endpoint` (empty when there is none). */
export function encodeMemberEndpoint(endpoint: MemberEndpoint | undefined): Buffer {
  return endpoint === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify({ v: 1, http: endpoint.http }))
}

/** The endpoint in a member's userData; undefined when it advertises none or the bytes are not ours. */
export function decodeMemberEndpoint(userData: Buffer | null | undefined): MemberEndpoint | undefined {
  if (!userData || userData.length === 0) return undefined
  try {
    const v = JSON.parse(userData.toString('utf8')) as { v?: unknown; http?: unknown }
    return v.v === 1 && typeof v.http === 'string' && v.http !== '' ? { http: v.http } : undefined
  } catch {
    return undefined
  }
}

/**
 * `inner`'s assigner (default: kafkajs' round robin, what a kafkajs consumer uses when given none) with the
 * endpoint in the member metadata. Everything else is delegated unchanged.
 */
export function advertisingAssigner(
  endpoint: MemberEndpoint | undefined,
  inner: PartitionAssigner = PartitionAssigners.roundRobin,
): PartitionAssigner {
  const userData = encodeMemberEndpoint(endpoint)
  return (config) => {
    const assigner = inner(config)
    return {
      name: assigner.name,
      version: assigner.version,
      // Called as a method: kafkajs' assigners read `this.version`.
      assign: (group) => assigner.assign(group),
      protocol: (subscription) => {
        const p = assigner.protocol(subscription)
        const metadata = AssignerProtocol.MemberMetadata.decode(p.metadata)
        if (metadata === null) return p
        return {
          name: p.name,
          metadata: AssignerProtocol.MemberMetadata.encode({ ...metadata, userData }),
        }
      },
    }
  }
}
