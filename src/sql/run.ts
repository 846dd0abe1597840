/**
 * One SQL query over the topologies' tables, start to end, for the CLI (src/cli/sql.ts) and POST /sql
 * (src/http/sql.ts): a fresh in-memory DuckDB, the tables created empty, the query checked against them (a bad
 * query fails before anything is read from Kafka), the topics loaded, the query run, its rows handed to `use`,
 * the database closed. One deadline bounds the load and the query.
 */
import { SqlEngine, type QueryResult } from './engine.ts'
import { tableSpecs, type SqlSource } from './rows.ts'
import { createTables, loadTables, type LoadedTable, type TopicSource } from './tables.ts'

export const DEFAULT_SQL_TIMEOUT_MS = 60_000
export const DEFAULT_SQL_MAX_ROWS = 5_000_000

export interface SqlRunOptions {
  /** Events as stored (no upcasting to the current schema versions). */
  raw: boolean
  /** Rows loaded per table at most. */
  maxRows: number
  /** Bound on loading and querying together. */
  timeoutMs: number
  /** One SELECT/WITH statement only, and no file, network or extension access (the HTTP route). */
  readOnly: boolean
  /** Called once the tables are loaded, before the query runs. */
  onLoaded?: (tables: LoadedTable[]) => void
}

export async function runSql<T>(
  sources: readonly SqlSource[],
  query: string,
  topics: TopicSource,
  o: SqlRunOptions,
  use: (result: QueryResult) => Promise<T>,
): Promise<T> {
  const { specs, aliases } = tableSpecs(sources, { raw: o.raw })
  const deadline = new AbortController()
  const timer = setTimeout(() => deadline.abort(`the time limit of ${o.timeoutMs} ms`), o.timeoutMs)
  const engine = await SqlEngine.open({ sandboxed: o.readOnly, threads: o.readOnly ? 1 : 2 })
  try {
    await createTables(engine, specs, aliases)
    await engine.check(query, { selectOnly: o.readOnly })
    const loaded = await loadTables(engine, topics, specs, {
      maxRows: o.maxRows,
      signal: deadline.signal,
      timeoutMs: o.timeoutMs,
    })
    o.onLoaded?.(loaded)
    return await use(await engine.query(query, deadline.signal))
  } finally {
    clearTimeout(timer)
    engine.close()
  }
}
