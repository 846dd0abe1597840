/**
 * A query's rows as text: JSON lines (one object per row), CSV (RFC 4180, with a header), or an aligned table for
 * a terminal (column widths from the first rows, wide cells cut). Written chunk by chunk as DuckDB hands them out.
 */
import type { QueryResult, ResultColumn } from './engine.ts'

export const OUTPUT_FORMATS = ['table', 'json', 'csv'] as const
export type OutputFormat = (typeof OUTPUT_FORMATS)[number]

export interface WriteOptions {
  /** Widest table cell, in characters (default 40). */
  maxCellWidth?: number
  /** Rows the table's column widths are taken from (default 1000). */
  widthSample?: number
}

const NUMERIC =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL)/

/**
 * A result value as plain JSON: integers as numbers when exact (else decimal strings), times as ISO-8601 (UTC),
 * a JSON column's text parsed, binary as base64.
 */
export function plainValue(v: unknown, type = ''): unknown {
  if (v === null || v === undefined) return null
  if (type === 'JSON' && typeof v === 'string') {
    try {
      return JSON.parse(v) as unknown
    } catch {
      return v
    }
  }
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()
  if (v instanceof Date) return type === 'DATE' ? v.toISOString().slice(0, 10) : v.toISOString()
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64')
  if (Array.isArray(v)) return v.map((x) => plainValue(x))
  if (typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, plainValue(x)]),
    )
  return v
}

/** Writes the rows in the format; resolves with the number of rows. */
export async function writeResult(
  result: QueryResult,
  format: OutputFormat,
  write: (text: string) => Promise<void> | void,
  o: WriteOptions = {},
): Promise<number> {
  const { columns } = result
  let n = 0
  if (format === 'table') return writeTable(result, write, o)
  if (format === 'csv') await write(csvLine(columns.map((c) => c.name)) + '\n')
  for await (const rows of result.chunks) {
    let out = ''
    for (const row of rows) {
      if (format === 'json') {
        const obj: Record<string, unknown> = {}
        columns.forEach((c, i) => (obj[c.name] = plainValue(row[i], c.type)))
        out += JSON.stringify(obj) + '\n'
      } else out += csvLine(columns.map((c, i) => cellText(row[i], c.type, ''))) + '\n'
    }
    n += rows.length
    if (out !== '') await write(out)
  }
  return n
}

async function writeTable(
  result: QueryResult,
  write: (text: string) => Promise<void> | void,
  o: WriteOptions,
): Promise<number> {
  const { columns } = result
  const max = o.maxCellWidth ?? 40
  const sampleSize = o.widthSample ?? 1000
  const sample: string[][] = []
  let widths: number[] | undefined
  let n = 0
  const line = (cells: string[]) =>
    cells
      .map((c, i) => {
        const w = widths![i]!
        const cut = c.length > w ? c.slice(0, Math.max(0, w - 1)) + '…' : c
        return NUMERIC.test(columns[i]!.type) ? cut.padStart(w) : cut.padEnd(w)
      })
      .join('  ')
      .trimEnd() + '\n'
  const start = async () => {
    widths = columns.map((c, i) => Math.min(max, Math.max(c.name.length, ...sample.map((r) => r[i]!.length))))
    let out = line(columns.map((c) => c.name)) + widths.map((w) => '-'.repeat(w)).join('  ') + '\n'
    for (const r of sample) out += line(r)
    await write(out)
  }
  for await (const rows of result.chunks) {
    const texts = rows.map((row) => columns.map((c, i) => tableCell(row[i], c)))
    n += rows.length
    if (widths === undefined) {
      sample.push(...texts)
      if (sample.length >= sampleSize) await start()
    } else await write(texts.map(line).join(''))
  }
  if (widths === undefined) await start()
  await write(`(${n} row${n === 1 ? '' : 's'})\n`)
  return n
}

function tableCell(v: unknown, c: ResultColumn): string {
  return cellText(v, c.type, 'NULL').replace(/[\r\n\t]+/g, ' ')
}

/** A value as one cell's text: strings as they are, other values as JSON. */
function cellText(v: unknown, type: string, nullText: string): string {
  const p = plainValue(v, type === 'JSON' ? '' : type)
  if (p === null) return nullText
  return typeof p === 'string' ? p : JSON.stringify(p)
}

function csvLine(cells: string[]): string {
  return cells.map((c) => (/[",\r\n]|^\s|\s$/.test(c) ? `"${c.replaceAll('"', '""')}"` : c)).join(',')
}
