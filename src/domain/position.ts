/**
 * The position token of the sequential read of a topology's events: for each partition of the events topic the
 * next offset to read ({partition: nextOffset}; a partition not named is read from its start). Serialised as an
 * opaque string ("p1." + base64url of JSON) so it can travel in a URL, a file or a database column as is; its
 * content is not a contract, only that a token handed out by a read resumes that read where it left off.
 */
import { InvalidPositionError } from '../errors.ts'

export type Position = ReadonlyMap<number, bigint>

const VERSION = 'p1.'

export function encodePosition(position: Position): string {
  const o: Record<string, string> = {}
  for (const [p, offset] of [...position].sort((a, b) => a[0] - b[0])) o[String(p)] = offset.toString()
  return VERSION + Buffer.from(JSON.stringify(o), 'utf8').toString('base64url')
}

/** The position of a token; undefined or '' = the start of every partition. Throws InvalidPositionError. */
export function decodePosition(token: string | undefined): Map<number, bigint> {
  const out = new Map<number, bigint>()
  if (token === undefined || token === '') return out
  const bad = (why: string) =>
    new InvalidPositionError(
      `position token "${token.slice(0, 80)}" is not valid (${why}); pass a token a previous read returned, or none to read from the start`,
    )
  if (!token.startsWith(VERSION)) throw bad(`it does not start with ${VERSION}`)
  let o: unknown
  try {
    o = JSON.parse(Buffer.from(token.slice(VERSION.length), 'base64url').toString('utf8'))
  } catch {
    throw bad('not base64url JSON')
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw bad('not an object')
  for (const [p, offset] of Object.entries(o)) {
    if (!/^\d{1,6}$/.test(p) || typeof offset !== 'string' || !/^\d{1,19}$/.test(offset))
      throw bad(`partition ${p.slice(0, 10)}`)
    out.set(Number(p), BigInt(offset))
  }
  return out
}
