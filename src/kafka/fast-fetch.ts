/**
 * kafkajs decodes every fetched record (protocol/recordBatch/record/v0/decoder.js) with Long objects: the timestamp
 * delta as a Long varint, then the record's timestamp and offset each as Long.fromValue(string).add(delta).toString(),
 * and its headers through a reduce that spreads the object built so far for every header. Under a backlog that was
 * ~12% of a worker's allocations and ~3% of its CPU. This decodes the same record into the same object in plain
 * numbers, and hands a record to kafkajs' own decoder when a number would not be exact (a timestamp or offset beyond
 * 2^53, a timestamp delta of more than 7 varint bytes). One difference, on purpose: a header named like a property
 * of Object.prototype ('constructor', '__proto__') is an own property like any other name; kafkajs read the
 * inherited value as an earlier header of that name.
 *
 * kafkajs' record batch decoder keeps the record decoder it loaded, so this must run before kafkajs is first loaded:
 * src/kafka/preload.ts, the first import of the CLI and of the package's entry. Returns false (and changes nothing)
 * when the batch decoder is loaded already.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

/** The parts of kafkajs' protocol Decoder this reads. */
export interface KafkajsDecoder {
  buffer: Buffer
  offset: number
  readInt8(): number
  readVarInt(): number
  readVarIntBytes(): Buffer | null
  readVarIntString(): string | null
}

interface BatchContext {
  firstOffset?: string
  firstTimestamp?: string
  magicByte?: number
  isControlBatch?: boolean
  timestampType?: number
  maxTimestamp?: string
}

type RecordDecoder = (decoder: KafkajsDecoder, batchContext?: BatchContext) => unknown

const LOG_APPEND_TIME = 1 // kafkajs/src/protocol/timestampTypes.js

let kafkajsDecoder: RecordDecoder | undefined

export function installFastRecordDecoding(): boolean {
  const batchDecoder = require.resolve('kafkajs/src/protocol/recordBatch/v0/decoder.js')
  if (require.cache[batchDecoder] !== undefined) return false
  const file = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/decoder.js')
  kafkajsDecoder = require(file) as RecordDecoder
  const mod = require.cache[file]
  if (mod === undefined) return false
  mod.exports = decodeRecord
  return true
}

/** kafkajs' own record decoder (loaded if need be), for the records this does not decode and for tests. */
export function kafkajsRecordDecoder(): RecordDecoder {
  if (kafkajsDecoder !== undefined) return kafkajsDecoder
  const file = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/decoder.js')
  const loaded = require.cache[file]?.exports as RecordDecoder | undefined
  if (loaded !== undefined && loaded !== decodeRecord) return (kafkajsDecoder = loaded)
  // Installed already: load the original module once more, outside the cache.
  const cached = require.cache[file]
  delete require.cache[file]
  try {
    kafkajsDecoder = require(file) as RecordDecoder
  } finally {
    if (cached !== undefined) require.cache[file] = cached
  }
  return kafkajsDecoder
}

// A batch's records are decoded one after the other with the same context: its first offset and timestamp are
// parsed once per batch, not per record.
let lastContext: BatchContext | undefined
let firstOffset = NaN
let firstTimestamp = NaN

/** kafkajs' record decoder, in numbers (see the header). */
export function decodeRecord(decoder: KafkajsDecoder, batchContext: BatchContext = {}): unknown {
  if (batchContext !== lastContext) {
    lastContext = batchContext
    firstOffset = exact(batchContext.firstOffset)
    firstTimestamp = exact(batchContext.firstTimestamp)
  }
  const start = decoder.offset
  const attributes = decoder.readInt8()
  const timestampDelta = readVarLong(decoder)
  const offsetDelta = timestampDelta === undefined ? 0 : decoder.readVarInt()
  const timestamp = firstTimestamp + (timestampDelta ?? NaN)
  const offset = firstOffset + offsetDelta
  if (!Number.isSafeInteger(timestamp) || !Number.isSafeInteger(offset)) {
    decoder.offset = start
    return kafkajsRecordDecoder()(decoder, batchContext)
  }
  const key = decoder.readVarIntBytes()
  const value = decoder.readVarIntBytes()
  const headers: Record<string, Buffer | null | (Buffer | null)[]> = {}
  const count = decoder.readVarInt()
  for (let i = 0; i < count; i++) {
    const name = String(decoder.readVarIntString()) // kafkajs: a null name becomes the property 'null'
    const v = decoder.readVarIntBytes()
    if (!Object.hasOwn(headers, name)) {
      if (name === '__proto__')
        Object.defineProperty(headers, name, {
          value: v,
          writable: true,
          enumerable: true,
          configurable: true,
        })
      else headers[name] = v
    } else {
      const prev = headers[name]!
      headers[name] = Array.isArray(prev) ? [...prev, v] : [prev, v]
    }
  }
  const { timestampType, maxTimestamp } = batchContext
  return {
    magicByte: batchContext.magicByte,
    attributes,
    timestamp: timestampType === LOG_APPEND_TIME && maxTimestamp ? maxTimestamp : String(timestamp),
    offset: String(offset),
    key,
    value,
    headers,
    isControlRecord: batchContext.isControlBatch ?? false,
    batchContext,
  }
}

/** A decimal string as a number when that is exact, else NaN. */
function exact(s: string | undefined): number {
  if (s === undefined) return NaN
  const n = Number(s)
  return Number.isSafeInteger(n) && String(n) === s ? n : NaN
}

/** A zig-zag varlong of at most 7 bytes (49 bits) as a number; undefined (offset unchanged) for a longer one. */
function readVarLong(d: KafkajsDecoder): number | undefined {
  const buf = d.buffer
  let at = d.offset
  let n = 0
  let scale = 1
  for (let i = 0; i < 7 && at < buf.length; i++) {
    const b = buf[at++]!
    n += (b & 0x7f) * scale
    if (b < 0x80) {
      d.offset = at
      return n % 2 === 0 ? n / 2 : -(n + 1) / 2
    }
    scale *= 128
  }
  return undefined
}
