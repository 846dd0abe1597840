/**
 * DuckDB for `decider sql` and POST /sql: one in-memory database per query. Tables are created from column lists
 * and fed in chunks through DuckDB's appender; the query is checked (parsed, bound, its statement type read)
 * against the empty tables before anything is read from Kafka; its rows are streamed, one DuckDB chunk at a time.
 *
 * Sandboxed (the HTTP route): no file, network or extension access from a query and the configuration locked, so
 * the loaded tables are all a query can see. DuckDB (a native library) is loaded on the first use, not by every
 * CLI command or worker that imports this module.
 */
import type { DuckDBAppender, DuckDBConnection, DuckDBInstance, DuckDBListType } from '@duckdb/node-api'
import { SqlLimitError, SqlQueryError } from '../errors.ts'

export type ColumnType = 'INTEGER' | 'BIGINT' | 'BOOLEAN' | 'VARCHAR' | 'TIMESTAMP' | 'JSON' | 'VARCHAR[]'
export interface Column {
  name: string
  type: ColumnType
}
/** A cell as the table loaders make it: TIMESTAMP as epoch ms (UTC), JSON as its text, VARCHAR[] as strings. */
export type Cell = number | bigint | boolean | string | readonly string[] | null

/** A result column: its name (made unique) and DuckDB type (JSON for a JSON column). */
export interface ResultColumn {
  name: string
  type: string
}

export interface QueryResult {
  columns: ResultColumn[]
  /** The rows, chunk by chunk, as DuckDB's JS values (bigint, Date, arrays, objects; JSON columns as text). */
  chunks: AsyncIterable<unknown[][]>
}

type DuckDB = typeof import('@duckdb/node-api')
let duckdb: DuckDB | undefined
let VARCHAR_LIST: DuckDBListType | undefined

export class SqlEngine {
  /** alias view -> the table it shows */
  private readonly aliases = new Map<string, string>()
  private reserved: Set<string> | undefined

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
  ) {}

  static async open(o: { sandboxed?: boolean; threads?: number } = {}): Promise<SqlEngine> {
    duckdb ??= await import('@duckdb/node-api')
    VARCHAR_LIST ??= duckdb.LIST(duckdb.VARCHAR)
    const options: Record<string, string> = { threads: String(o.threads ?? 2) }
    if (o.sandboxed)
      Object.assign(options, {
        enable_external_access: 'false',
        autoinstall_known_extensions: 'false',
        autoload_known_extensions: 'false',
      })
    const instance = await duckdb.DuckDBInstance.create(':memory:', options)
    const conn = await instance.connect()
    // The TIMESTAMP columns hold UTC: so do now(), current_date and casts to TIMESTAMPTZ, whatever the machine's zone.
    await conn.run("SET TimeZone = 'UTC'")
    if (o.sandboxed) await conn.run('SET lock_configuration = true')
    return new SqlEngine(instance, conn)
  }

  close(): void {
    this.conn.closeSync()
    this.instance.closeSync()
  }

  async createTable(name: string, columns: readonly Column[]): Promise<void> {
    const cols = columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ')
    await this.conn.run(`CREATE TABLE ${quoteIdent(name)} (${cols})`)
  }

  /** A view `alias` showing `table` (the unprefixed names: events, snapshots, views). */
  async createAlias(alias: string, table: string): Promise<void> {
    await this.conn.run(`CREATE VIEW ${quoteIdent(alias)} AS SELECT * FROM ${quoteIdent(table)}`)
    this.aliases.set(alias, table)
  }

  /** A statement of the loaders (moving staged rows, dropping a stage). */
  async exec(sql: string): Promise<void> {
    await this.conn.run(sql)
  }

  async count(table: string): Promise<number> {
    const r = await this.conn.runAndReadAll(`SELECT count(*) FROM ${quoteIdent(table)}`)
    return Number(r.getRowsJS()[0]![0])
  }

  /**
   * Appends rows to a table: `append` per chunk (then flushed into DuckDB), `close` at the end. Each appender has
   * a connection of its own, so tables load side by side.
   */
  async appender(table: string, columns: readonly Column[]): Promise<TableAppender> {
    const conn = await this.instance.connect()
    const a = await conn.createAppender(table)
    return {
      append(rows) {
        for (const row of rows) {
          for (let i = 0; i < columns.length; i++) appendCell(a, columns[i]!.type, row[i] ?? null)
          a.endRow()
        }
        a.flushSync()
      },
      close() {
        try {
          a.closeSync()
        } finally {
          conn.closeSync()
        }
      },
    }
  }

  /**
   * Parses and binds the query against the tables (empty or not), before they are loaded. `selectOnly`: one
   * statement, a SELECT (a WITH ... SELECT is one too), nothing else. Several statements (the CLI) are parsed;
   * the first is bound, the others when they run.
   */
  async check(query: string, o: { selectOnly: boolean }): Promise<void> {
    if (query.trim().replace(/;+\s*$/, '') === '') throw await this.queryError('the query is empty')
    let extracted
    try {
      extracted = await this.conn.extractStatements(query)
    } catch (e) {
      throw await this.queryError((e as Error).message.replace(/^Failed to extract statements: /, ''))
    }
    if (extracted.count === 0) throw await this.queryError('the query is empty')
    if (o.selectOnly && extracted.count > 1)
      throw await this.queryError(`give one SELECT statement, not ${extracted.count} statements`)
    let prepared
    try {
      prepared = await extracted.prepare(0)
    } catch (e) {
      throw await this.queryError((e as Error).message)
    }
    const type = prepared.statementType
    prepared.destroySync()
    const { StatementType } = duckdb!
    if (o.selectOnly && type !== StatementType.SELECT)
      throw await this.queryError(
        `only a SELECT (or WITH ... SELECT) statement is taken here, not ${StatementType[type] ?? type}`,
      )
  }

  /** Runs the query (all its statements; the rows are the last one's). `signal` interrupts it. */
  async query(query: string, signal?: AbortSignal): Promise<QueryResult> {
    const interrupt = () => this.conn.interrupt()
    signal?.addEventListener('abort', interrupt, { once: true })
    const fail = async (e: unknown): Promise<Error> => {
      if (signal?.aborted)
        return new SqlLimitError(`the query did not finish within ${String(signal.reason)}`, 'time')
      return this.queryError((e as Error).message)
    }
    let result
    try {
      result = await this.conn.stream(query)
    } catch (e) {
      signal?.removeEventListener('abort', interrupt)
      throw await fail(e)
    }
    const names = result.deduplicatedColumnNames()
    const columns = result.columnTypes().map((t, i) => ({ name: names[i]!, type: t.alias ?? t.toString() }))
    const rows = result
    async function* chunks(): AsyncGenerator<unknown[][]> {
      try {
        for await (const chunk of rows.yieldRowsJs()) yield chunk
      } catch (e) {
        throw await fail(e)
      } finally {
        signal?.removeEventListener('abort', interrupt)
      }
    }
    return { columns, chunks: chunks() }
  }

  /** The tables and views a query can use, with their columns (names quoted where SQL needs it). */
  async describe(): Promise<string> {
    this.reserved ??= new Set(
      (
        await (
          await this.conn.runAndReadAll(
            "SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category <> 'unreserved'",
          )
        ).getRowsJS()
      ).map((r) => String(r[0])),
    )
    const q = (n: string) => (/^[a-z_][a-z0-9_]*$/.test(n) && !this.reserved!.has(n) ? n : quoteIdent(n))
    const rows = (
      await this.conn.runAndReadAll(
        "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'main' AND table_name NOT LIKE '\\_\\_stage%' ESCAPE '\\' ORDER BY table_name, ordinal_position",
      )
    ).getRowsJS() as [string, string, string][]
    const tables = new Map<string, string[]>()
    for (const [t, c, type] of rows) {
      if (this.aliases.has(t)) continue
      let cols = tables.get(t)
      if (!cols) tables.set(t, (cols = []))
      cols.push(`${q(c)} ${type}`)
    }
    const aliasOf = (t: string) => [...this.aliases].filter(([, of]) => of === t).map(([a]) => q(a))
    return [...tables]
      .map(([t, cols]) => {
        const a = aliasOf(t)
        return `  ${q(t)}${a.length > 0 ? ` (also ${a.join(', ')})` : ''}: ${cols.join(', ')}`
      })
      .join('\n')
  }

  private async queryError(problem: string): Promise<SqlQueryError> {
    return new SqlQueryError(`${problem.trimEnd()}\ntables:\n${await this.describe()}`)
  }
}

export interface TableAppender {
  append(rows: readonly (readonly Cell[])[]): void
  close(): void
}

/** A SQL identifier in double quotes (table names hold "-" and "."). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

function appendCell(a: DuckDBAppender, type: ColumnType, v: Cell): void {
  if (v === null) return a.appendNull()
  switch (type) {
    case 'INTEGER':
      return a.appendInteger(v as number)
    case 'BIGINT':
      return a.appendBigInt(v as bigint)
    case 'BOOLEAN':
      return a.appendBoolean(v as boolean)
    case 'VARCHAR':
    case 'JSON':
      return a.appendVarchar(v as string)
    case 'TIMESTAMP':
      return a.appendTimestamp(duckdb!.timestampValue(BigInt(v as number) * 1000n))
    case 'VARCHAR[]':
      return a.appendList(duckdb!.listValue(v as string[]), VARCHAR_LIST)
  }
}
