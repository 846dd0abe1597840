/**
 * POST /sql (only when the worker config says `http.sql: true`): a read-only SQL query over the tables of this
 * worker's topologies and projections, loaded from Kafka for the query (src/sql, as `decider sql` does):
 *
 *   body {"topologies": ["bank-account"], "query": "SELECT type, count(*) AS n FROM events GROUP BY type", "raw"?: false}
 *   200  { columns: [{ name, type }], rows: [{ <column>: value }], rowCount, truncated, tables: [{ table, topic, rows }] }
 *
 * Read-only: one SELECT (or WITH ... SELECT) statement, in a DuckDB without file, network or extension access.
 * Bounded: `timeoutMs` for loading and querying (504 sql_timeout), at most `maxRows` rows in the answer (the rest cut,
 * `truncated: true`), one query at a time per worker (429 sql_busy). Errors are JSON `{ error, code }`: 400 invalid_body,
 * invalid_query (the message lists the tables and their columns); 404 unknown_topology; 413; 415; 422 too_many_rows
 * (a table above the load bound); 503 read_failed (Kafka).
 */
import type { IncomingMessage } from 'node:http'
import { z } from 'zod'
import { SqlLimitError, SqlQueryError, UsageError } from '../errors.ts'
import { plainValue } from '../sql/format.ts'
import type { SqlSource } from '../sql/rows.ts'
import { DEFAULT_SQL_MAX_ROWS, runSql } from '../sql/run.ts'
import type { LoadedTable, TopicSource } from '../sql/tables.ts'
import { readJsonBody } from './commands.ts'

/** The request body (docs/openapi.yaml's SqlRequest). */
export const sqlRequestSchema = z
  .object({
    topologies: z.array(z.string().min(1)).min(1).max(32),
    query: z.string().min(1).max(100_000),
    raw: z.boolean().optional(),
  })
  .strict()

export interface SqlRouteOptions {
  /** The topologies and projections a query may name: this worker's. */
  sources: readonly SqlSource[]
  topics: TopicSource
  timeoutMs: number
  /** Rows in an answer at most. */
  maxRows: number
  /** Rows loaded per table at most (default 5,000,000). */
  maxLoadRows?: number
  /** Largest body taken (64 KiB). */
  maxBodyBytes?: number
  /** Told after each answered query (for a debug log line; never the query text). */
  onAnswered?: (o: { topologies: string[]; rows: number; ms: number }) => void
}

type Answer = (status: number, body: Record<string, unknown>, headers?: Record<string, string>) => void

export type SqlRoute = (req: IncomingMessage, answer: Answer) => Promise<void>

export function sqlRoute(o: SqlRouteOptions): SqlRoute {
  let busy = false
  return async (req, answer) => {
    if (req.method !== 'POST')
      return answer(405, { error: 'use POST /sql', code: 'method_not_allowed' }, { allow: 'POST' })
    const body = await readJsonBody(req, answer, {
      maxBodyBytes: o.maxBodyBytes ?? 64 * 1024,
      schema: sqlRequestSchema,
      what: 'a query',
      example: '{"topologies": ["<name>"], "query": "SELECT ..."}',
    })
    if (body === undefined) return
    const names = (s: SqlSource) => s.definition.name
    const sources: SqlSource[] = []
    for (const name of body.data.topologies) {
      const s = o.sources.find((x) => names(x) === name)
      if (s === undefined)
        return answer(404, {
          error: `this worker does not run topology ${name} (it runs: ${o.sources.map(names).join(', ') || 'none'})`,
          code: 'unknown_topology',
        })
      sources.push(s)
    }
    if (busy)
      return answer(
        429,
        { error: 'another SQL query runs on this worker; ask again', code: 'sql_busy' },
        { 'retry-after': '1' },
      )
    busy = true
    const started = Date.now()
    try {
      let tables: LoadedTable[] = []
      const answered = await runSql(
        sources,
        body.data.query,
        o.topics,
        {
          raw: body.data.raw === true,
          maxRows: o.maxLoadRows ?? DEFAULT_SQL_MAX_ROWS,
          timeoutMs: o.timeoutMs,
          readOnly: true,
          onLoaded: (t) => (tables = t),
        },
        async (result) => {
          const rows: Record<string, unknown>[] = []
          let truncated = false
          for await (const chunk of result.chunks) {
            for (const row of chunk) {
              if (rows.length === o.maxRows) truncated = true
              if (truncated) break
              const obj: Record<string, unknown> = {}
              result.columns.forEach((c, i) => (obj[c.name] = plainValue(row[i], c.type)))
              rows.push(obj)
            }
            if (truncated) break
          }
          return { columns: result.columns, rows, rowCount: rows.length, truncated }
        },
      )
      o.onAnswered?.({ topologies: body.data.topologies, rows: answered.rowCount, ms: Date.now() - started })
      answer(200, {
        ...answered,
        tables: tables.map((t) => ({ table: t.table, topic: t.topic, rows: t.rows })),
      })
    } catch (e) {
      const message = (e as Error).message
      if (e instanceof SqlQueryError) return answer(400, { error: message, code: 'invalid_query' })
      if (e instanceof UsageError) return answer(400, { error: message, code: 'bad_request' })
      if (e instanceof SqlLimitError)
        return e.limit === 'time'
          ? answer(504, { error: message, code: 'sql_timeout' })
          : answer(422, { error: message, code: 'too_many_rows' })
      answer(503, { error: `reading the topics failed: ${message}`, code: 'read_failed' })
    } finally {
      busy = false
    }
  }
}
