/**
 * Plugs produce-encoder.ts into kafkajs 2.2.4: each Produce request module (versions 3 to 7, which share one body
 * layout) is wrapped so that the request it builds encodes with `encodeProduceBody` when the request is the
 * common case it encodes, and with kafkajs' own encoder otherwise. kafkajs requires these modules when it
 * builds each request (protocol/requests/produce/index.js), so the wrappers apply to every producer of the
 * process, whenever it was created. Installed once, when the transactional producer module loads.
 *
 * kafkajs is pinned at 2.2.4 (its last release); `installFastProduce` throws if the modules are not where that
 * version has them, and test/kafka/produce-encoder.test.ts checks the bytes against kafkajs' encoder.
 */
import { createRequire } from 'node:module'
import { encodeProduceBody, type ProduceRequestArgs } from './produce-encoder.ts'

const require = createRequire(import.meta.url)
const VERSIONS = [3, 4, 5, 6, 7]
const WRAPPED = Symbol.for('kafka-decider:fast-produce')

interface KafkajsRequest {
  apiVersion: number
  encode: () => Promise<unknown>
}
type RequestFactory = ((args: ProduceRequestArgs) => KafkajsRequest) & { [WRAPPED]?: true }
interface KafkajsEncoder {
  buf: Buffer
  offset: number
  /** buf up to offset (a getter of kafkajs' Encoder). */
  readonly buffer: Buffer
}

let installed = false

/** Wraps kafkajs' Produce v3-v7 request modules (idempotent). */
export function installFastProduce(): void {
  if (installed) return
  const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => KafkajsEncoder
  for (const v of VERSIONS) {
    const file = require.resolve(`kafkajs/src/protocol/requests/produce/v${v}/request.js`)
    const original = require(file) as RequestFactory
    const mod = require.cache[file]
    if (typeof original !== 'function' || mod === undefined)
      throw new Error(`kafkajs' Produce v${v} request is not where kafkajs 2.2.4 has it (${file})`)
    if (original[WRAPPED]) continue
    const wrapped: RequestFactory = (args) => {
      const request = original(args)
      const kafkajsEncode = request.encode
      request.encode = async () => {
        const body = encodeProduceBody(args, Date.now())
        if (body === undefined) return kafkajsEncode()
        const e = new Encoder()
        e.buf = body
        e.offset = body.length
        return e
      }
      return request
    }
    wrapped[WRAPPED] = true
    mod.exports = wrapped
  }
  installed = true
}

interface GroupArgs {
  topic: string
  partitionMetadata: unknown[]
  messages: unknown[]
  partitioner: (a: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number
}

/**
 * kafkajs' producer groups each send's messages by partition with `[...current, message]` per message
 * (producer/groupMessagesPerPartition.js): quadratic in the messages per partition, ~1,000 in a full batch here, and
 * a fresh array for every message. This is the same grouping (same order; the partitioner asked only for messages
 * without a partition) in one pass.
 * kafkajs' producer module keeps the function it loaded, so this must run before kafkajs is first loaded: it is the
 * first import of the CLI and of the package's entry (src/kafka/preload.ts). Returns false (and changes nothing)
 * when kafkajs' producer is loaded already.
 */
export function installFastGrouping(): boolean {
  const sendMessages = require.resolve('kafkajs/src/producer/sendMessages.js')
  if (require.cache[sendMessages] !== undefined) return false
  const file = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js')
  require(file)
  const mod = require.cache[file]
  if (mod === undefined) return false
  mod.exports = groupByPartition
  return true
}

/**
 * kafkajs frames every request (protocol/request.js) by copying its body twice, into two zero-filled buffers that
 * grow by doubling from 512 bytes: for a 1 MB Produce request that is ~4 MB allocated and zeroed and 2 MB copied.
 * This writes the same frame (size, api key, version, correlation id, client id, body) into one buffer. Like the
 * grouping, it must be in place before kafkajs loads (src/kafka/preload.ts); returns false when it is too late.
 */
export function installFastFraming(): boolean {
  const connection = require.resolve('kafkajs/src/network/connection.js')
  if (require.cache[connection] !== undefined) return false
  const file = require.resolve('kafkajs/src/protocol/request.js')
  require(file)
  const mod = require.cache[file]
  if (mod === undefined) return false
  mod.exports = frameRequest
  return true
}

interface FrameArgs {
  correlationId: number
  clientId: string | null | undefined
  request: { apiKey: number; apiVersion: number; encode: () => Promise<{ buffer: Buffer }> }
}

let FramingEncoder: (new () => KafkajsEncoder) | undefined

/** kafkajs' protocol/request.js: the request's frame, as a kafkajs Encoder. */
export async function frameRequest({ correlationId, clientId, request }: FrameArgs): Promise<KafkajsEncoder> {
  const body = (await request.encode()).buffer
  const id = clientId === null || clientId === undefined ? null : clientId
  const idBytes = id === null ? 0 : Buffer.byteLength(id)
  const size = 2 + 2 + 4 + 2 + idBytes + body.length
  const buf = Buffer.allocUnsafe(4 + size)
  let at = buf.writeInt32BE(size, 0)
  at = buf.writeInt16BE(request.apiKey, at)
  at = buf.writeInt16BE(request.apiVersion, at)
  at = buf.writeInt32BE(correlationId, at)
  at = buf.writeInt16BE(id === null ? -1 : idBytes, at)
  if (id !== null) at += buf.write(id, at, idBytes, 'utf8')
  body.copy(buf, at)
  // Required once: a require per request walked the module resolution each time (~1% of a worker's CPU under tsx).
  FramingEncoder ??= require('kafkajs/src/protocol/encoder.js') as new () => KafkajsEncoder
  const e = new FramingEncoder()
  e.buf = buf
  e.offset = buf.length
  return e
}

/** kafkajs' groupMessagesPerPartition, in one pass. */
export function groupByPartition({
  topic,
  partitionMetadata,
  messages,
  partitioner,
}: GroupArgs): Record<number, unknown[]> {
  const result: Record<number, unknown[]> = {}
  if (partitionMetadata.length === 0) return result
  for (const message of messages) {
    // A message that names its partition goes there, as kafkajs' partitioners send it (the default one filtered
    // the partition list and built its arguments per message first: ~5% of a worker's allocations, since every
    // record the transactional producer sends names its partition). Only this project's producers run here.
    const named = (message as { partition?: unknown }).partition
    const partition =
      typeof named === 'number' && Number.isInteger(named)
        ? named
        : partitioner({ topic, partitionMetadata, message })
    const list = result[partition]
    if (list === undefined) result[partition] = [message]
    else list.push(message)
  }
  return result
}

/** kafkajs' own Produce v3 request factory, bypassing the wrapper (for tests comparing the bytes). */
export function kafkajsProduceRequest(args: ProduceRequestArgs): KafkajsRequest {
  const file = require.resolve('kafkajs/src/protocol/requests/produce/v3/request.js')
  // The original module function: loaded fresh, outside the cache, so the wrapper is not in the way.
  const cached = require.cache[file]
  delete require.cache[file]
  try {
    return (require(file) as RequestFactory)(args)
  } finally {
    if (cached) require.cache[file] = cached
  }
}
