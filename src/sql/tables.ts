/**
 * Loads the SQL tables (rows.ts) from committed topic reads: never from the local LevelDB stores (a running worker
 * holds their lock). Each topic is read read_committed up to the end it had when the read started, and each
 * fetched chunk goes into DuckDB through its appender before the next is fetched, so memory on the Node side is
 * one chunk per table. The last-per-key tables (snapshots, views) are staged with their keys and offsets and then
 * reduced to the last record per key, deletions dropped, inside DuckDB.
 *
 * Bounds: `maxRows` rows read per table (SqlLimitError past it), and `signal` (the caller's deadline: the reads
 * stop, SqlLimitError).
 */
import { SqlLimitError } from '../errors.ts'
import { quoteIdent, type Cell, type Column, type SqlEngine } from './engine.ts'
import { keyOf, type SourceRecord, type TableSpec } from './rows.ts'

/** Committed topic reads (src/kafka/committed-topics.ts over Kafka; an in-memory one in tests). */
export interface TopicSource {
  /** The topics of `topics` that do not exist. */
  missing(topics: readonly string[]): Promise<string[]>
  /**
   * Every committed record of the topic up to the end it had at the call, a chunk at a time (`onChunk` awaited
   * before the next); ends early, without error, when `signal` aborts; fails after `timeoutMs` without progress.
   */
  read(
    topic: string,
    onChunk: (records: SourceRecord[]) => Promise<void> | void,
    o: { signal: AbortSignal; timeoutMs: number },
  ): Promise<void>
}

export interface LoadedTable {
  table: string
  topic: string
  /** Records that made a row (for the last-per-key tables: before the reduction). */
  read: number
  /** Rows in the table. */
  rows: number
  /** Records that were not what the topic holds (undecodable, not an envelope): left out. */
  skipped: number
}

export interface LoadOptions {
  maxRows: number
  /** The deadline; its reason is the error's message when it passes. */
  signal: AbortSignal
  /** How long a read may make no progress. */
  timeoutMs: number
}

const STAGE_COLUMNS: Column[] = [
  { name: '__key', type: 'VARCHAR' },
  { name: '__partition', type: 'INTEGER' },
  { name: '__offset', type: 'BIGINT' },
  { name: '__deleted', type: 'BOOLEAN' },
]

const stageOf = (table: string) => `__stage_${table}`

/** Creates the (empty) tables and the aliases: a query can be checked against them before anything is read. */
export async function createTables(
  engine: SqlEngine,
  specs: readonly TableSpec[],
  aliases: readonly [string, string][],
): Promise<void> {
  for (const s of specs) await engine.createTable(s.table, s.columns)
  for (const [alias, table] of aliases) await engine.createAlias(alias, table)
}

/** Reads every table's topic into it (the tables in parallel); the first failure stops the others. */
export async function loadTables(
  engine: SqlEngine,
  source: TopicSource,
  specs: readonly TableSpec[],
  o: LoadOptions,
): Promise<LoadedTable[]> {
  const missing = await source.missing([...new Set(specs.map((s) => s.topic))])
  if (missing.length > 0)
    throw new Error(
      specs
        .filter((s) => missing.includes(s.topic))
        .map((s) => `topic ${s.topic} (of table ${s.table}) does not exist`)
        .join('; ') +
        ' (create the topics with decider topics create, or start the worker that creates them)',
    )
  const stop = new AbortController()
  let cause: unknown
  const onDeadline = () => stop.abort()
  o.signal.addEventListener('abort', onDeadline, { once: true })
  try {
    const results = await Promise.allSettled(
      specs.map((s) =>
        loadTable(engine, source, s, { ...o, signal: stop.signal }).catch((e: unknown) => {
          if (!stop.signal.aborted) cause = e
          stop.abort()
          throw e
        }),
      ),
    )
    if (o.signal.aborted)
      throw new SqlLimitError(`reading the topics did not finish within ${String(o.signal.reason)}`, 'time')
    // The table that failed first stopped the others: its error is the one to report.
    if (cause !== undefined) throw cause
    const failed = results.find((r) => r.status === 'rejected')
    if (failed) throw failed.reason
    return results.map((r) => (r as PromiseFulfilledResult<LoadedTable>).value)
  } finally {
    o.signal.removeEventListener('abort', onDeadline)
  }
}

async function loadTable(
  engine: SqlEngine,
  source: TopicSource,
  spec: TableSpec,
  o: LoadOptions,
): Promise<LoadedTable> {
  const target = spec.latest ? stageOf(spec.table) : spec.table
  const columns = spec.latest ? [...STAGE_COLUMNS, ...spec.columns] : spec.columns
  const none: Cell[] = spec.columns.map(() => null)
  if (spec.latest) await engine.createTable(target, columns)
  const appender = await engine.appender(target, columns)
  let read = 0
  let skipped = 0
  try {
    await source.read(
      spec.topic,
      (records) => {
        const rows: Cell[][] = []
        for (const r of records) {
          const row = spec.row(r)
          if (row === 'undecodable') skipped++
          if (typeof row === 'string' && row !== 'deleted') continue
          if (!spec.latest) rows.push(row as Cell[])
          else
            rows.push([
              keyOf(r),
              r.partition,
              r.offset,
              row === 'deleted',
              ...(row === 'deleted' ? none : row),
            ])
        }
        read += rows.length
        if (read > o.maxRows)
          throw new SqlLimitError(
            `table ${spec.table}: ${spec.topic} has more than ${o.maxRows} rows to load (the bound per table)`,
          )
        if (rows.length > 0) appender.append(rows)
      },
      { signal: o.signal, timeoutMs: o.timeoutMs },
    )
  } finally {
    appender.close()
  }
  if (spec.latest) {
    const cols = spec.columns.map((c) => quoteIdent(c.name)).join(', ')
    const stage = quoteIdent(target)
    await engine.exec(
      `INSERT INTO ${quoteIdent(spec.table)} SELECT ${cols} FROM ${stage} ` +
        `QUALIFY row_number() OVER (PARTITION BY __key ORDER BY __partition DESC, __offset DESC) = 1 AND NOT __deleted`,
    )
    await engine.exec(`DROP TABLE ${stage}`)
  }
  return { table: spec.table, topic: spec.topic, read, rows: await engine.count(spec.table), skipped }
}
