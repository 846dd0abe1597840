/**
 * `decider events`: an aggregate's events, or every event of the topology in commit order.
 *
 *   decider events <topology> <aggregateId>   one JSON event per line, in version order, from (first that applies):
 *     --url / DECIDER_URL ..... the running worker's event index over HTTP (GET /aggregates/<t>/<id>/events);
 *     the local store ......... the event index in the LevelDB store of the aggregate's partition under the state
 *                               dir (when the worker there is stopped; while a running one holds the store, the
 *                               scan below answers, unless --state-dir asked for the store: then it fails);
 *     --scan, or no store ..... a scan of the whole events topic partition (read_committed): O(partition), the
 *                               fallback that needs nothing but Kafka.
 *   decider events <topology> --all [--from <token>]   every committed event of the events topic (read_committed),
 *     in commit order per partition, as {partition, offset, position, event} lines, up to the end the topic had at the
 *     start; the last line on stderr is the position token to pass as --from next time.
 */
import { eventLines, historyView, type EventOutputOptions } from './event-output.ts'
import { existsSync } from 'node:fs'
import { EventStoreClient } from '../client/event-store.ts'
import { decode } from '../domain/codec.ts'
import type { EventEnvelope } from '../domain/envelopes.ts'
import { StoreInUseError, UsageError, WorkerReadError } from '../errors.ts'
import { eventOf } from '../state/event-index.ts'
import { storeDir, type LevelSnapshotStore } from '../state/level-store.ts'
import { loadTopology, type Topology } from '../topology/loader.ts'
import { cliConfig, cliKafka, parseNonNegativeInt, topicReader } from './common.ts'
import { partitionOf } from './partitioner.ts'
import { openStore } from './query.ts'

export interface EventsCliOptions extends EventOutputOptions {
  config?: string
  url?: string
  /** A bearer token of the worker's http.auth (read permission); default DECIDER_TOKEN. */
  token?: string
  stateDir?: string
  scan?: boolean
  all?: boolean
  from?: string
  fromVersion?: string
  toVersion?: string
  timeout: string
}

export async function eventsCommand(
  file: string,
  aggregateId: string | undefined,
  o: EventsCliOptions,
): Promise<number> {
  const history = historyView(o)
  if (o.all) {
    if (aggregateId !== undefined)
      throw new UsageError('--all reads every aggregate: leave out the aggregate id')
    return allEvents(file, o)
  }
  if (aggregateId === undefined) throw new UsageError('give an aggregate id, or --all')
  if (o.from !== undefined)
    throw new UsageError('--from is a position token of --all; for versions use --from-version')
  const sources = [o.url !== undefined, o.stateDir !== undefined, o.scan === true].filter(Boolean).length
  if (sources > 1) throw new UsageError('give one of --url, --state-dir and --scan')
  const range = {
    ...(o.fromVersion === undefined
      ? {}
      : { fromVersion: parseNonNegativeInt(o.fromVersion, '--from-version') }),
    ...(o.toVersion === undefined ? {} : { toVersion: parseNonNegativeInt(o.toVersion, '--to-version') }),
  }
  const timeoutMs = parseNonNegativeInt(o.timeout, '--timeout')
  const topology = await loadTopology(file)
  const p = partitionOf(aggregateId, topology.definition.partitions)
  const url =
    o.url ?? (o.stateDir === undefined && !o.scan ? process.env.DECIDER_URL || undefined : undefined)
  let events: EventEnvelope[]
  let source: string
  if (url !== undefined) {
    try {
      // The worker shows them as a read does (or as stored with --raw); eventLines below is then the identity,
      // unless this decider is newer than the worker's (it upcasts further).
      const token = o.token ?? (process.env.DECIDER_TOKEN || undefined)
      const got = await new EventStoreClient({
        url,
        timeoutMs,
        ...(token !== undefined ? { token } : {}),
      }).events(topology, aggregateId, {
        ...range,
        history,
        ...(o.raw ? { raw: true } : {}),
      })
      events = got.map((e) => e.event)
    } catch (e) {
      if (!(e instanceof WorkerReadError)) throw e
      console.error(
        `error: ${e.message}${e.status === 401 ? ' (give a token: --token or DECIDER_TOKEN)' : ''}`,
      )
      return 1
    }
    source = `the event index of the worker at ${url}`
  } else {
    const stateDir = o.scan ? undefined : (o.stateDir ?? (await cliConfig(o.config)).stateDir)
    const local =
      stateDir !== undefined && existsSync(storeDir(stateDir, topology.definition.name, p))
        ? await localEvents(stateDir, topology, p, aggregateId, range, o.stateDir !== undefined)
        : undefined
    if (local !== undefined) {
      events = local
      source = `the event index of the local store of partition ${p}`
    } else {
      if (o.stateDir !== undefined) {
        console.error(
          `no store of partition ${p} under ${o.stateDir} (leave out --state-dir to scan the events topic)`,
        )
        return 1
      }
      events = await scanPartition(topology, o.config, aggregateId, p, timeoutMs)
      events = events.filter(
        (e) =>
          e.version >= (range.fromVersion ?? 0) && e.version <= (range.toVersion ?? Number.MAX_SAFE_INTEGER),
      )
      source = `a scan of ${topology.topics.events}[${p}]`
    }
  }
  for (const line of eventLines(topology.decider, events, o)) console.log(line)
  if (events.length === 0) {
    console.error(`aggregate ${aggregateId}: no events (${source})`)
    return 1
  }
  console.error(`${events.length} event(s) of ${aggregateId} from ${source}`)
  return 0
}

/**
 * From the local store's index; undefined when a running worker holds the store and no --state-dir asked for it
 * (then the scan answers, as before the index existed: ask the worker with --url for its index).
 */
async function localEvents(
  stateDir: string,
  topology: Topology,
  p: number,
  aggregateId: string,
  range: { fromVersion?: number; toVersion?: number },
  required: boolean,
): Promise<EventEnvelope[] | undefined> {
  let store: LevelSnapshotStore
  try {
    store = await openStore(stateDir, topology, p, required ? 5_000 : 500)
  } catch (e) {
    if (required || !(e instanceof StoreInUseError)) throw e
    console.error(
      `the local store of partition ${p} is in use (a running worker?): scanning the events topic; ask the worker with --url to read its index`,
    )
    return undefined
  }
  try {
    return (await store.events(aggregateId, range)).map(eventOf)
  } finally {
    await store.close()
  }
}

/** The fallback: the whole events topic partition, read_committed, keeping the aggregate's events. */
async function scanPartition(
  topology: Topology,
  config: string | undefined,
  aggregateId: string,
  p: number,
  timeoutMs: number,
): Promise<EventEnvelope[]> {
  const kafka = cliKafka(await cliConfig(config))
  const events: EventEnvelope[] = []
  await topicReader(kafka).readPartition(
    topology.topics.events,
    p,
    (chunk) => {
      for (const r of chunk)
        if (r.key === aggregateId && r.value !== null) events.push(decode(r.value) as EventEnvelope)
    },
    timeoutMs,
  )
  return events.sort((a, b) => a.version - b.version)
}

async function allEvents(file: string, o: EventsCliOptions): Promise<number> {
  if (o.url !== undefined || o.stateDir !== undefined || o.scan)
    throw new UsageError('--all reads the events topic: --url, --state-dir and --scan do not apply')
  const topology = await loadTopology(file)
  const kafka = cliKafka(await cliConfig(o.config))
  const client = new EventStoreClient({ kafka, groupPrefix: `${topology.applicationId}-cli` })
  let position = o.from
  let n = 0
  for await (const e of client.readAll(topology, {
    ...(o.from === undefined ? {} : { from: o.from }),
    timeoutMs: parseNonNegativeInt(o.timeout, '--timeout'),
    decider: o.raw ? undefined : topology,
  })) {
    console.log(
      JSON.stringify({
        partition: e.partition,
        offset: e.offset.toString(),
        position: e.position,
        event: e.event,
      }),
    )
    position = e.position
    n++
  }
  console.error(`${n} event(s) of ${topology.topics.events}; resume with --from ${position ?? "''"}`)
  return 0
}
