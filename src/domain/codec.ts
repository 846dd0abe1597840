/**
 * Value serialization. msgpack by default; JSON when the topology says so. Decoding follows the
 * record's content-type header, so a producer may send JSON to a msgpack topology and vice versa.
 */
import { Packr } from 'msgpackr'

export type Serialization = 'msgpack' | 'json'

export const CONTENT_TYPES: Record<Serialization, string> = {
  msgpack: 'application/msgpack',
  json: 'application/json',
}

// useRecords: false keeps the bytes plain msgpack that any language can read.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' })

export function encode(value: unknown, serialization: Serialization): Buffer {
  return serialization === 'json' ? Buffer.from(JSON.stringify(value)) : packr.pack(value)
}

/**
 * The codec of the local snapshot stores (LevelDB and its in-memory twin): msgpack, as on the topics, so a state
 * comes back from the store exactly as it comes back from the changelog.
 */
export const storeCodec = {
  encode: (value: unknown): Buffer => packr.pack(value),
  decode: (bytes: Uint8Array): unknown => packr.unpack(bytes),
}

export function serializationOfContentType(contentType: string | undefined): Serialization | undefined {
  if (contentType === undefined) return undefined
  const ct = contentType.toLowerCase()
  if (ct.includes('json')) return 'json'
  if (ct.includes('msgpack')) return 'msgpack'
  return undefined
}

/** Decodes bytes; throws on bad bytes. Without a content-type, JSON is recognised by its first byte. */
export function decode(bytes: Buffer, contentType?: string): unknown {
  const s = serializationOfContentType(contentType) ?? sniff(bytes)
  if (s === 'json') return JSON.parse(bytes.toString('utf8'))
  return packr.unpack(bytes)
}

function sniff(bytes: Buffer): Serialization {
  const first = bytes[0]
  // '{' — a msgpack fixmap never starts with 0x7b (that is a positive fixint), and an envelope is a map.
  return first === 0x7b ? 'json' : 'msgpack'
}
