/**
 * The body of a Produce request (versions 3 to 7: the same layout), encoded in one pass into one Buffer, with a
 * table-driven CRC32C that reads 8 bytes per step.
 *
 * Why: kafkajs 2.2.4 encodes every record, header and varint into a Buffer of its own (`Buffer.from([..])` per
 * varint, an Encoder of 512 bytes per record and per header), copies each record three more times while framing
 * the batch, and computes the CRC32C a byte at a time. Under a backlog that was the largest share of a worker's
 * CPU (bench profiles in docs/BENCHMARKS.md). The bytes written here are exactly the bytes kafkajs writes for the
 * same request (test/kafka/produce-encoder.test.ts compares them on random requests), so the broker, the
 * sequence numbers and the transaction see no difference; fast-produce.ts plugs it into kafkajs.
 *
 * Only the common case is encoded here: no compression and no record timestamps (every record of a batch then
 * gets the request's clock, as in kafkajs); `encodeProduceBody` returns undefined for any other request.
 */

/** A message as kafkajs' producer hands it to the protocol layer. */
export interface ProduceMessage {
  key?: Buffer | string | null
  value: Buffer | string | null
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>
  timestamp?: string | number
  partition?: number
}

export interface ProduceTopicData {
  topic: string
  partitions: { partition: number; firstSequence?: number; messages: ProduceMessage[] }[]
}

export interface ProduceRequestArgs {
  acks: number
  timeout: number
  transactionalId?: string | null
  producerId?: unknown
  producerEpoch?: number
  compression?: number
  topicData: ProduceTopicData[]
}

/** Thrown inside the encoder when the request is not the common case; encodeProduceBody returns undefined then. */
const NOT_ENCODABLE = new Error('not encodable here')

/**
 * The Produce request body (what kafkajs' request `encode()` returns), for `now` as the batches' timestamp; undefined
 * when the request is not the case encoded here (compression, record timestamps, values that are not bytes or
 * strings): kafkajs' own encoder writes those.
 */
export function encodeProduceBody(args: ProduceRequestArgs, now: number): Buffer | undefined {
  if ((args.compression ?? 0) !== 0) return undefined
  try {
    return encodeBody(args, now)
  } catch (e) {
    if (e === NOT_ENCODABLE) return undefined
    throw e
  }
}

function encodeBody(args: ProduceRequestArgs, now: number): Buffer {
  const w = new Writer(estimate(args))
  w.nullableString(args.transactionalId ?? null)
  w.int16(args.acks)
  w.int32(args.timeout)
  w.int32(args.topicData.length)
  const producerId = int64Of(args.producerId ?? -1)
  const epoch = args.producerEpoch ?? 0
  const transactional = !!args.transactionalId // kafkajs: `transactional: !!transactionalId`
  for (const t of args.topicData) {
    w.string(t.topic)
    w.int32(t.partitions.length)
    for (const p of t.partitions) {
      w.int32(p.partition)
      writeRecordSet(w, p.messages, producerId, epoch, p.firstSequence ?? 0, transactional, now)
    }
  }
  return w.done()
}

/** RECORDS: int32 size, then the batch: firstOffset, length, leader epoch, magic 2, CRC32C of the rest, the rest. */
function writeRecordSet(
  w: Writer,
  messages: readonly ProduceMessage[],
  producerId: bigint,
  epoch: number,
  firstSequence: number,
  transactional: boolean,
  now: number,
): void {
  const sizeAt = w.reserve(4) // record set size (kafkajs: recordBatch.size())
  const start = w.offset
  w.int64(0n) // firstOffset
  const lengthAt = w.reserve(4) // batch length (writeBytes' int32)
  const batchStart = w.offset
  w.int32(0) // partitionLeaderEpoch
  w.int8(2) // magic
  const crcAt = w.reserve(4)
  const bodyStart = w.offset
  w.int16(transactional ? 16 : 0) // attributes: no compression, create time, transactional bit
  w.int32(messages.length - 1) // lastOffsetDelta
  w.int64(BigInt(now)) // firstTimestamp
  w.int64(BigInt(now)) // maxTimestamp
  w.int64(producerId)
  w.int16(epoch)
  w.int32(firstSequence)
  w.int32(messages.length)
  for (let i = 0; i < messages.length; i++) writeRecord(w, messages[i]!, i)
  w.buf.writeUInt32BE(crc32c(w.buf, bodyStart, w.offset), crcAt)
  w.buf.writeInt32BE(w.offset - batchStart, lengthAt)
  w.buf.writeInt32BE(w.offset - start, sizeAt)
}

function writeRecord(w: Writer, m: ProduceMessage, offsetDelta: number): void {
  if (m.timestamp !== undefined && m.timestamp !== null) throw NOT_ENCODABLE
  const key = m.key ?? null
  const value = m.value ?? null
  const keyBytes = byteLength(key)
  const valueBytes = byteLength(value)
  let headerCount = 0
  let headersSize = 0
  const headers = m.headers
  if (headers !== undefined)
    for (const k in headers) {
      const v = headers[k]!
      const kb = utf8Length(k)
      if (Array.isArray(v)) {
        for (const x of v) {
          headerCount++
          headersSize += varIntSize(kb) + kb + bytesFieldSize(byteLength(x))
        }
      } else {
        headerCount++
        headersSize += varIntSize(kb) + kb + bytesFieldSize(byteLength(v))
      }
    }
  const body =
    1 + // attributes
    1 + // timestampDelta 0
    varIntSize(offsetDelta) +
    bytesFieldSize(keyBytes) +
    bytesFieldSize(valueBytes) +
    varIntSize(headerCount) +
    headersSize
  w.ensure(5 + body)
  w.varInt(body)
  w.int8(0)
  w.varInt(0)
  w.varInt(offsetDelta)
  w.bytesField(key, keyBytes)
  w.bytesField(value, valueBytes)
  w.varInt(headerCount)
  if (headers !== undefined)
    for (const k in headers) {
      const v = headers[k]!
      if (Array.isArray(v)) for (const x of v) w.header(k, x)
      else w.header(k, v)
    }
}

/** Strings up to this many characters are measured and copied in JavaScript (no native call) when ASCII. */
const SHORT = 64

/** Bytes of a string in UTF-8: counted here for a short ASCII one, else by Buffer.byteLength. */
function utf8Length(s: string): number {
  const n = s.length
  if (n > SHORT) return Buffer.byteLength(s)
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s)
  return n
}

/** UTF-8 length of a string, length of a Buffer, -1 for null; anything else is not encoded here. */
function byteLength(v: unknown): number {
  if (v === null) return -1
  if (typeof v === 'string') return utf8Length(v)
  if (Buffer.isBuffer(v)) return v.length
  throw NOT_ENCODABLE
}

function bytesFieldSize(n: number): number {
  return n < 0 ? 1 : varIntSize(n) + n
}

/** Bytes of a zig-zag varint of a 32-bit int. */
function varIntSize(v: number): number {
  let z = ((v << 1) ^ (v >> 31)) >>> 0
  let n = 1
  while (z >= 0x80) {
    z >>>= 7
    n++
  }
  return n
}

function int64Of(v: unknown): bigint {
  if (typeof v === 'bigint') return v
  if (typeof v === 'object' && v !== null && typeof (v as { value?: unknown }).value === 'bigint')
    return (v as { value: bigint }).value // kafkajs' Long
  return BigInt(String(v))
}

/** A first size for the request's buffer: keys and values plus a typical record's framing and headers (it grows if short). */
function estimate(args: ProduceRequestArgs): number {
  let n = 64
  for (const t of args.topicData) {
    n += 8 + t.topic.length * 3
    for (const p of t.partitions) {
      n += 80
      for (const m of p.messages) n += 96 + lengthOf(m.key) + lengthOf(m.value)
    }
  }
  return n
}

const lengthOf = (v: unknown): number =>
  typeof v === 'string' ? v.length * 3 : Buffer.isBuffer(v) ? v.length : 0

class Writer {
  buf: Buffer
  offset = 0

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size)
  }

  ensure(n: number): void {
    if (this.offset + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.offset + n))
    this.buf.copy(next, 0, 0, this.offset)
    this.buf = next
  }

  reserve(n: number): number {
    this.ensure(n)
    const at = this.offset
    this.offset += n
    return at
  }

  int8(v: number): void {
    this.ensure(1)
    this.buf[this.offset++] = v & 0xff
  }

  int16(v: number): void {
    this.ensure(2)
    this.offset = this.buf.writeInt16BE(v, this.offset)
  }

  int32(v: number): void {
    this.ensure(4)
    this.offset = this.buf.writeInt32BE(v, this.offset)
  }

  int64(v: bigint): void {
    this.ensure(8)
    this.offset = this.buf.writeBigInt64BE(v, this.offset)
  }

  string(s: string): void {
    const n = Buffer.byteLength(s)
    this.int16(n)
    this.ensure(n)
    this.offset += this.buf.write(s, this.offset, n, 'utf8')
  }

  nullableString(s: string | null): void {
    if (s === null) this.int16(-1)
    else this.string(s)
  }

  varInt(v: number): void {
    this.ensure(5)
    let z = ((v << 1) ^ (v >> 31)) >>> 0
    while (z >= 0x80) {
      this.buf[this.offset++] = (z & 0x7f) | 0x80
      z >>>= 7
    }
    this.buf[this.offset++] = z
  }

  /** A varint length (-1 for null) and the bytes; `n` is byteLength(v). */
  bytesField(v: Buffer | string | null, n: number): void {
    this.varInt(n)
    if (v === null) return
    this.ensure(n)
    if (typeof v === 'string') {
      if (n === v.length && n <= SHORT) {
        // ASCII (as many bytes as characters) and short: a header name or value, a key. Copied here; a native
        // utf8Write per header was ~3% of a worker's CPU.
        const buf = this.buf
        let at = this.offset
        for (let i = 0; i < n; i++) buf[at++] = v.charCodeAt(i)
        this.offset = at
      } else this.offset += this.buf.write(v, this.offset, n, 'utf8')
    } else this.offset += v.copy(this.buf, this.offset)
  }

  header(k: string, v: Buffer | string): void {
    this.bytesField(k, utf8Length(k))
    this.bytesField(v, byteLength(v))
  }

  done(): Buffer {
    return this.buf.subarray(0, this.offset)
  }
}

// CRC32C (Castagnoli, reflected polynomial 0x82f63b78), slicing by 8.
const CRC_TABLES = (() => {
  const t = new Int32Array(8 * 256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    t[i] = c
  }
  for (let i = 0; i < 256; i++) {
    let c = t[i]!
    for (let s = 1; s < 8; s++) {
      c = t[c & 0xff]! ^ (c >>> 8)
      t[s * 256 + i] = c
    }
  }
  return t
})()

/** CRC32C of buf[from, to). */
export function crc32c(buf: Uint8Array, from = 0, to = buf.length): number {
  const t = CRC_TABLES
  let crc = -1
  let i = from
  const end8 = to - ((to - from) & 7)
  while (i < end8) {
    const a = crc ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))
    crc =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + buf[i + 4]!]! ^
      t[512 + buf[i + 5]!]! ^
      t[256 + buf[i + 6]!]! ^
      t[buf[i + 7]!]!
    i += 8
  }
  while (i < to) crc = t[(crc ^ buf[i++]!) & 0xff]! ^ (crc >>> 8)
  return (crc ^ -1) >>> 0
}
