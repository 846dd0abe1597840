/**
 * Where a command's events are: the events-topic partition and offset of the last event of an accepted reply,
 * for read-your-writes on projections (GET /views/...?waitFor=<topic>:<partition>:<offset>). The reply does not
 * carry offsets (the worker writes it in the same transaction as the events, before it knows them); the owner's
 * event index does, so this asks it exactly as GET /aggregates/<topology>/<id>/events?fromVersion=v&toVersion=v
 * would be answered: from this worker's index when it owns the aggregate, else from the owner's (routing.ts).
 *
 * The index is written just after the commit, and the reply can be read just before: an event not indexed yet is
 * asked again, like a 503 with a retry hint, until `timeoutMs`.
 */
import type { ReplyEnvelope } from '../domain/envelopes.ts'
import type { EventQueries } from './events.ts'
import { peerGet, type PeerGet, type PeerTls } from './peer.ts'
import type { AggregateRouter } from './routing.ts'

/** An event's place on its events topic (offset as a decimal string). */
export interface EventPosition {
  topic: string
  partition: number
  offset: string
}

export type PositionsAnswer = { positions: EventPosition[] } | { unavailable: string }

/**
 * Finds the positions of a reply's events (see above); never throws. `caller.authorization`: the caller's
 * Authorization header, passed on to the owner asked (it checks the caller's read permission).
 */
export type ReplyPositions = (
  topology: string,
  reply: ReplyEnvelope,
  timeoutMs: number,
  caller?: { authorization?: string | undefined },
) => Promise<PositionsAnswer>

export interface ReplyPositionsOptions {
  topologies: readonly { definition: { name: string }; topics: { events: string } }[]
  events: Pick<EventQueries, 'aggregateEvents'>
  /** Looked up on each call (the worker has one once it listens); without one, this worker's index only. */
  router: () => Pick<AggregateRouter, 'self' | 'locate' | 'ownerFailed'> | undefined
  /** Bound on one owner's answer (http.forwardTimeoutMs). */
  peerTimeoutMs?: number
  peerGet?: PeerGet
  /** The CA and client certificate of requests to other workers over HTTPS (http.tls). */
  peerTls?: PeerTls
}

/** Whether a reply has events whose positions mean something: accepted, or a duplicate of an accepted one. */
export function hasPositions(reply: ReplyEnvelope): boolean {
  return reply.status === 'accepted' || (reply.status === 'duplicate' && reply.originalStatus === 'accepted')
}

export function replyPositions(o: ReplyPositionsOptions): ReplyPositions {
  return async (name, reply, timeoutMs, caller) => {
    const last = reply.events[reply.events.length - 1]
    if (!hasPositions(reply) || last === undefined) return { positions: [] }
    const topology = o.topologies.find((t) => t.definition.name === name)
    if (topology === undefined) return { unavailable: `this worker does not run topology ${name}` }
    const version = last[1]
    const id = reply.aggregateId
    const query = new URLSearchParams({ fromVersion: String(version), toVersion: String(version) })
    const path = `/aggregates/${encodeURIComponent(name)}/${encodeURIComponent(id)}/events?${query}`
    const deadline = Date.now() + timeoutMs
    let pause = 10
    for (;;) {
      let why: string
      let retryAfterMs = pause
      try {
        const router = o.router()
        const at = router === undefined ? ({ at: 'local' } as const) : await router.locate(name, id, false)
        const answer =
          at.at === 'local'
            ? await o.events.aggregateEvents(name, id, query)
            : at.at === 'owner'
              ? await (o.peerGet ?? peerGet)(at.url, path, {
                  self: router!.self,
                  timeoutMs: Math.max(1, Math.min(o.peerTimeoutMs ?? 5_000, deadline - Date.now())),
                  authorization: caller?.authorization,
                  tls: o.peerTls,
                })
              : { status: at.status, body: at.body as Record<string, unknown> }
        if (at.at === 'owner' && (answer.status === 503 || answer.status === 504)) router!.ownerFailed(name)
        const body = answer.body as {
          partition?: unknown
          events?: { offset?: unknown; event?: { version?: unknown } }[]
          code?: unknown
          error?: unknown
          retryAfterMs?: unknown
        }
        if (answer.status === 200) {
          const e = body.events?.find((x) => x.event?.version === version)
          if (e !== undefined && typeof e.offset === 'string' && typeof body.partition === 'number')
            return {
              positions: [{ topic: topology.topics.events, partition: body.partition, offset: e.offset }],
            }
          why = `the event index has no event ${version} of aggregate ${id} yet`
        } else {
          why = `reading its events answered ${answer.status} ${String(body.code)}: ${String(body.error)}`
          if (answer.status !== 503 && answer.status !== 504) return { unavailable: why }
          if (typeof body.retryAfterMs === 'number') retryAfterMs = body.retryAfterMs
        }
      } catch (e) {
        why = `reading its events failed: ${(e as Error).message}`
      }
      const left = deadline - Date.now()
      if (left <= 0)
        return { unavailable: `no position of event ${version} of ${id} within ${timeoutMs} ms: ${why}` }
      await new Promise((r) => setTimeout(r, Math.min(retryAfterMs, left)))
      pause = Math.min(pause * 2, 200)
    }
  }
}
