/**
 * What the SQL tables are: their names, columns and topics, and the row each committed record makes.
 *
 *   per decider topology <name>:     "<name>_events"    every event of its events topic (upcast to the current
 *                                                       schema versions unless raw)
 *                                    "<name>_snapshots" the last snapshot per aggregate of its changelog
 *   per projection topology <name>:  "<name>_views"     the last view per key of its views changelog
 *
 * and the views events / snapshots / views when one topology of that kind is given.
 */
import { decode } from '../domain/codec.ts'
import type { AnyDecider } from '../domain/decider.ts'
import { isReservedKey, type EventEnvelope, type SnapshotRecord } from '../domain/envelopes.ts'
import { storedSchemaVersion, upcastEvent } from '../domain/upcasting.ts'
import { UsageError } from '../errors.ts'
import type { ProjectionTopology } from '../topology/projection-loader.ts'
import type { Topology } from '../topology/loader.ts'
import type { Cell, Column } from './engine.ts'

/** One committed record of a topic (src/kafka/committed-topics.ts reads them). */
export interface SourceRecord {
  partition: number
  offset: bigint
  key: Buffer | null
  value: Buffer | null
  contentType: string | undefined
}

/** What a record makes: a row; for the last-per-key tables a deletion; or nothing (an internal or foreign record). */
export type RowOf = Cell[] | 'deleted' | 'internal' | 'undecodable'

export interface TableSpec {
  table: string
  topic: string
  columns: Column[]
  /** true: the last record per key wins (compacted changelogs); false: every record is a row. */
  latest: boolean
  row(r: SourceRecord): RowOf
}

export type SqlSource = Topology | ProjectionTopology

export const EVENT_COLUMNS: Column[] = [
  { name: 'partition', type: 'INTEGER' },
  { name: 'offset', type: 'BIGINT' },
  { name: 'aggregate_id', type: 'VARCHAR' },
  { name: 'version', type: 'INTEGER' },
  { name: 'type', type: 'VARCHAR' },
  { name: 'event_id', type: 'VARCHAR' },
  { name: 'command_id', type: 'VARCHAR' },
  { name: 'correlation_id', type: 'VARCHAR' },
  { name: 'causation_id', type: 'VARCHAR' },
  { name: 'event_time', type: 'TIMESTAMP' },
  { name: 'recorded_at', type: 'TIMESTAMP' },
  { name: 'schema_version', type: 'INTEGER' },
  { name: 'corrects', type: 'VARCHAR[]' },
  { name: 'correction_reason', type: 'VARCHAR' },
  { name: 'payload', type: 'JSON' },
]

export const SNAPSHOT_COLUMNS: Column[] = [
  { name: 'aggregate_id', type: 'VARCHAR' },
  { name: 'version', type: 'INTEGER' },
  { name: 'state', type: 'JSON' },
  { name: 'state_version', type: 'INTEGER' },
]

export const VIEW_COLUMNS: Column[] = [
  { name: 'key', type: 'VARCHAR' },
  { name: 'view', type: 'JSON' },
]

/** The tables of the topologies, and the unprefixed aliases ([alias, table]). */
export function tableSpecs(
  sources: readonly SqlSource[],
  o: { raw: boolean },
): { specs: TableSpec[]; aliases: [string, string][] } {
  const specs: TableSpec[] = []
  const names = new Set<string>()
  const deciders = sources.filter((s): s is Topology => !('kind' in s))
  const projections = sources.filter((s): s is ProjectionTopology => 'kind' in s)
  for (const t of deciders) {
    const name = t.definition.name
    if (names.has(name)) throw new UsageError(`topology ${name} is given twice`)
    names.add(name)
    const decider = o.raw ? undefined : t.decider
    specs.push(
      {
        table: `${name}_events`,
        topic: t.topics.events,
        columns: EVENT_COLUMNS,
        latest: false,
        row: (r) => eventRow(r, decider),
      },
      {
        table: `${name}_snapshots`,
        topic: t.topics.changelog,
        columns: SNAPSHOT_COLUMNS,
        latest: true,
        row: snapshotRow,
      },
    )
  }
  for (const p of projections) {
    const name = p.definition.name
    if (names.has(`projection ${name}`)) throw new UsageError(`projection ${name} is given twice`)
    names.add(`projection ${name}`)
    specs.push({
      table: `${name}_views`,
      topic: p.topics.changelog,
      columns: VIEW_COLUMNS,
      latest: true,
      row: viewRow,
    })
  }
  const aliases: [string, string][] = []
  if (deciders.length === 1) {
    const name = deciders[0]!.definition.name
    aliases.push(['events', `${name}_events`], ['snapshots', `${name}_snapshots`])
  }
  if (projections.length === 1) aliases.push(['views', `${projections[0]!.definition.name}_views`])
  return { specs, aliases }
}

/** An event record's row; upcast with the decider when given (its errors name the event and are thrown). */
export function eventRow(r: SourceRecord, decider: AnyDecider | undefined): RowOf {
  if (r.value === null || r.key === null || r.key[0] === 0) return 'internal'
  const decoded = decodeOr(r)
  if (!isObject(decoded) || typeof decoded.type !== 'string' || typeof decoded.aggregateId !== 'string')
    return 'undecodable'
  const e =
    decider === undefined
      ? (decoded as unknown as EventEnvelope)
      : upcastEvent(decider, decoded as unknown as EventEnvelope)
  return [
    r.partition,
    r.offset,
    e.aggregateId,
    int(e.version),
    e.type,
    str(e.eventId),
    str(e.commandId),
    str(e.correlationId),
    str(e.causationId),
    time(e.eventTime),
    time(e.recordedAt),
    int(storedSchemaVersion(e)),
    Array.isArray(e.corrects) ? e.corrects.map(String) : null,
    str(e.correctionReason),
    json(e.payload),
  ]
}

/** A changelog record's row: the snapshot, a deletion (tombstone), or nothing (the offset markers). */
export function snapshotRow(r: SourceRecord): RowOf {
  const key = r.key?.toString('utf8')
  if (key === undefined || isReservedKey(key)) return 'internal'
  if (r.value === null) return 'deleted'
  const s = decodeOr(r) as Partial<SnapshotRecord> | undefined
  if (!isObject(s)) return 'undecodable'
  return [str(s.aggregateId) ?? key, int(s.version), json(s.state), int(s.stateVersion ?? 1)]
}

/** A views changelog record's row: the view, a deletion (null value), or nothing (the internal markers). */
export function viewRow(r: SourceRecord): RowOf {
  const key = r.key?.toString('utf8')
  if (key === undefined || isReservedKey(key)) return 'internal'
  if (r.value === null) return 'deleted'
  const view = decodeOr(r)
  return view === undefined ? 'undecodable' : [key, json(view)]
}

/** The key a last-per-key table dedupes on. */
export function keyOf(r: SourceRecord): string {
  return r.key?.toString('utf8') ?? ''
}

function decodeOr(r: SourceRecord): unknown {
  try {
    return decode(r.value!, r.contentType)
  } catch {
    return undefined
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null)
const int = (v: unknown): number | null =>
  Number.isInteger(v) && Math.abs(v as number) <= 2_147_483_647 ? (v as number) : null

/** Epoch ms of an ISO-8601 string, epoch ms or Date; null when it is not a time. */
function time(v: unknown): number | null {
  const ms =
    v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : typeof v === 'number' ? v : NaN
  return Number.isFinite(ms) ? Math.trunc(ms) : null
}

/** JSON text (bigints as decimal strings, binary as base64); null for undefined. */
export function json(v: unknown): string | null {
  if (v === undefined) return null
  return JSON.stringify(v, function (this: Record<string, unknown>, k: string, x: unknown) {
    const raw = this[k] // before toJSON: a Buffer's would make { type, data }
    return typeof x === 'bigint'
      ? x.toString()
      : raw instanceof Uint8Array
        ? Buffer.from(raw).toString('base64')
        : x
  })
}
