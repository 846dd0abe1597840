/**
 * `decider sql <topology-or-projection.yaml...> "<query>"`: a SQL query (DuckDB) over tables loaded from the
 * topologies' topics, read_committed up to the end they had at the start (src/sql: the tables, their columns, the
 * bounds). Never from the local stores: a running worker holds their lock.
 *
 * Output: an aligned table on a terminal, JSON lines otherwise, or --format table|json|csv. Exit codes: 0 answered,
 * 1 Kafka failed (or a topic is missing, a bound was passed, a stored event cannot be upcast), 2 a bad query (the
 * message lists the tables and their columns) or bad usage.
 */
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import {
  EventVersionUnknownError,
  SqlLimitError,
  SqlQueryError,
  UpcastFailedError,
  UsageError,
} from '../errors.ts'
import { KafkaCommittedTopics } from '../kafka/committed-topics.ts'
import { OUTPUT_FORMATS, writeResult, type OutputFormat } from '../sql/format.ts'
import type { SqlSource } from '../sql/rows.ts'
import { runSql } from '../sql/run.ts'
import type { LoadedTable } from '../sql/tables.ts'
import { cliConfig, cliKafka, parseNonNegativeInt } from './common.ts'
import { loadTopologyFiles } from './run.ts'

export interface SqlCliOptions {
  format?: string
  timeout: string
  maxRows: string
  raw?: boolean
  config?: string
}

export async function sqlCommand(args: string[], o: SqlCliOptions): Promise<number> {
  if (args.length < 2)
    throw new UsageError(
      'give one or more topology files, then the query: decider sql topologies/bank-account.yaml "SELECT type, count(*) FROM events GROUP BY type"',
    )
  const files = args.slice(0, -1)
  const query = await queryText(args[args.length - 1]!)
  const format = (o.format ?? (process.stdout.isTTY ? 'table' : 'json')) as OutputFormat
  if (!OUTPUT_FORMATS.includes(format))
    throw new UsageError(`--format must be one of ${OUTPUT_FORMATS.join(', ')}, got "${o.format}"`)
  const timeoutMs = positive(o.timeout, '--timeout')
  const maxRows = positive(o.maxRows, '--max-rows')
  const { topologies, projections } = await loadTopologyFiles(files)
  const sources: SqlSource[] = [...topologies, ...projections]
  const kafka = cliKafka(await cliConfig(o.config))
  const first = sources[0]!
  const topics = new KafkaCommittedTopics(kafka, `${first.applicationId}-cli-sql`)
  try {
    const rows = await runSql(
      sources,
      query,
      topics,
      {
        raw: o.raw === true,
        maxRows,
        timeoutMs,
        readOnly: false,
        onLoaded: (t) => console.error(loadedLine(t)),
      },
      (result) => writeResult(result, format, writeOut),
    )
    if (format !== 'table') console.error(`${rows} row(s)`)
    return 0
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EPIPE') return 0 // the reader went away (| head): done
    if (e instanceof SqlQueryError) {
      console.error(`error: ${e.message}`)
      return 2
    }
    if (e instanceof UsageError) throw e
    const hint =
      e instanceof UpcastFailedError || e instanceof EventVersionUnknownError
        ? '\n(--raw reads the events as stored, without upcasting)'
        : e instanceof SqlLimitError
          ? `; raise ${e.limit === 'rows' ? '--max-rows' : '--timeout'}`
          : ''
    console.error(`error: ${(e as Error).message}${hint}`)
    return 1
  }
}

/** The query, or the text of a file given as @file.sql. */
async function queryText(arg: string): Promise<string> {
  if (!arg.startsWith('@')) return arg
  try {
    return await readFile(arg.slice(1), 'utf8')
  } catch (e) {
    throw new UsageError(`cannot read the query file ${arg.slice(1)}: ${(e as Error).message}`)
  }
}

function positive(value: string, option: string): number {
  const n = parseNonNegativeInt(value, option)
  if (n < 1) throw new UsageError(`${option} must be at least 1, got ${value}`)
  return n
}

function loadedLine(tables: LoadedTable[]): string {
  return (
    'loaded ' +
    tables
      .map(
        (t) =>
          `${t.table}: ${t.rows} row(s)${t.read !== t.rows ? ` (of ${t.read} records)` : ''} from ${t.topic}` +
          (t.skipped > 0 ? `, ${t.skipped} record(s) skipped (not decodable)` : ''),
      )
      .join('; ')
  )
}

/** Writes to stdout, waiting for it to drain when its buffer is full (a slow pipe slows the query down). */
async function writeOut(text: string): Promise<void> {
  stdoutFailure ??= listenForStdoutFailure()
  if (stdoutError !== undefined) throw stdoutError
  if (!process.stdout.write(text)) await once(process.stdout, 'drain') // rejects on an 'error' meanwhile
}

let stdoutError: Error | undefined
let stdoutFailure: true | undefined

/** Keeps stdout's error (EPIPE when the reader closed the pipe) for the next write, instead of a crash. */
function listenForStdoutFailure(): true {
  process.stdout.on('error', (e) => (stdoutError = e))
  return true
}
