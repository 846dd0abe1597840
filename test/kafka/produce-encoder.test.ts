import { createRequire } from 'node:module'
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { installFastProduce, kafkajsProduceRequest } from '../../src/kafka/fast-produce.ts'
import { afterPackageLoad } from '../support/preload-probe.ts'
import {
  crc32c,
  encodeProduceBody,
  type ProduceMessage,
  type ProduceRequestArgs,
} from '../../src/kafka/produce-encoder.ts'

const require = createRequire(import.meta.url)
const KafkajsEncoder = require('kafkajs/src/protocol/encoder.js') as new () => {
  writeBuffer(b: Buffer): { buffer: Buffer }
}
const kafkajsCrc32C = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number

const NOW = 1_765_000_000_123

const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a))
const text = fc.string({ unit: 'binary', maxLength: 80 })
const keyOrValue = fc.oneof(fc.constant(null), text, bytes)
const headerValue = fc.oneof(text, bytes)
const headers = fc.dictionary(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.oneof(headerValue, fc.array(headerValue, { maxLength: 3 })),
  { maxKeys: 5 },
)
const message: fc.Arbitrary<ProduceMessage> = fc.record(
  { key: keyOrValue, value: keyOrValue, headers },
  { requiredKeys: ['value'] },
)
const request: fc.Arbitrary<ProduceRequestArgs> = fc.record({
  acks: fc.constantFrom(-1, 1),
  timeout: fc.integer({ min: 0, max: 60_000 }),
  transactionalId: fc.oneof(fc.constant(null), fc.string({ maxLength: 40 })),
  producerId: fc.oneof(
    fc.integer({ min: -1, max: 2 ** 31 }),
    fc.bigInt({ min: 0n, max: 2n ** 62n }).map(String),
  ),
  producerEpoch: fc.integer({ min: 0, max: 32_000 }),
  topicData: fc.array(
    fc.record({
      topic: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }),
      partitions: fc.array(
        fc.record({
          partition: fc.integer({ min: 0, max: 1000 }),
          firstSequence: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          messages: fc.array(message, { minLength: 1, maxLength: 20 }),
        }),
        { minLength: 1, maxLength: 4 },
      ),
    }),
    { minLength: 1, maxLength: 3 },
  ),
})

async function kafkajsBytes(args: ProduceRequestArgs): Promise<Buffer> {
  const e = (await kafkajsProduceRequest(args).encode()) as { buffer: Buffer }
  return e.buffer
}

afterEach(() => vi.restoreAllMocks())

describe('produce encoder', () => {
  it('writes exactly the bytes kafkajs 2.2.4 writes for the same Produce request', async () => {
    vi.spyOn(Date, 'now').mockReturnValue(NOW)
    await fc.assert(
      fc.asyncProperty(request, async (args) => {
        expect(encodeProduceBody(args, NOW)?.equals(await kafkajsBytes(args))).toBe(true)
      }),
      { numRuns: 300 },
    )
  })

  it('a batch as a task writes it (thousands of records, string headers, Buffer values)', async () => {
    vi.spyOn(Date, 'now').mockReturnValue(NOW)
    const messages: ProduceMessage[] = Array.from({ length: 3000 }, (_, i) => ({
      key: `account-${i % 97}`,
      value: Buffer.alloc(50 + (i % 300), i & 0xff),
      partition: 2,
      headers: { 'content-type': 'application/msgpack', 'kd-source-offset': String(i * 7) },
    }))
    const args: ProduceRequestArgs = {
      acks: -1,
      timeout: 30000,
      transactionalId: 'app-commands-2',
      producerId: '4001',
      producerEpoch: 3,
      topicData: [{ topic: 'bank.events', partitions: [{ partition: 2, firstSequence: 123, messages }] }],
    }
    const ours = encodeProduceBody(args, NOW)!
    expect(ours.length).toBeGreaterThan(3000 * 50)
    expect(ours.equals(await kafkajsBytes(args))).toBe(true)
  })

  it('leaves compressed requests, records with timestamps and odd header values to kafkajs', () => {
    const base: ProduceRequestArgs = {
      acks: -1,
      timeout: 1,
      topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ key: 'k', value: 'v' }] }] }],
    }
    expect(encodeProduceBody(base, NOW)).toBeInstanceOf(Buffer)
    expect(encodeProduceBody({ ...base, compression: 1 }, NOW)).toBeUndefined()
    const stamped = structuredClone(base)
    stamped.topicData[0]!.partitions[0]!.messages[0]!.timestamp = '1700000000000'
    expect(encodeProduceBody(stamped, NOW)).toBeUndefined()
    const odd = structuredClone(base)
    odd.topicData[0]!.partitions[0]!.messages[0]!.headers = { h: undefined }
    expect(encodeProduceBody(odd, NOW)).toBeUndefined()
  })

  it('CRC32C equals kafkajs’ byte-at-a-time CRC32C, at every length and offset', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(16), (a, cut) => {
        const b = Buffer.from(a)
        const from = Math.min(cut, b.length)
        expect(crc32c(b, from, b.length)).toBe(kafkajsCrc32C(b.subarray(from)))
      }),
      { numRuns: 500 },
    )
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283) // the standard check value
  })

  it('the one-pass grouping by partition equals kafkajs’ own, and is in place once the package is loaded', async () => {
    const file = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js')
    const cached = require.cache[file]
    delete require.cache[file]
    const original = require(file) as (a: unknown) => Record<number, unknown[]>
    if (cached) require.cache[file] = cached
    // Loaded in a fresh process: the package's entry installs the grouping before kafkajs loads.
    const probe = afterPackageLoad([
      'kafkajs/src/producer/groupMessagesPerPartition.js',
      'kafkajs/src/protocol/request.js',
    ])
    expect(probe).toBe('groupByPartition frameRequest')
    const { groupByPartition: ours } = await import('../../src/kafka/fast-produce.ts')
    // The grouping itself, compared with kafkajs' on random messages and partitioners.
    fc.assert(
      fc.property(
        fc.array(
          fc.record(
            {
              key: fc.string(),
              partition: fc.integer({ min: 0, max: 5 }),
              p: fc.integer({ min: 0, max: 5 }),
            },
            { requiredKeys: ['key', 'p'] },
          ),
          { maxLength: 60 },
        ),
        fc.boolean(),
        (messages, empty) => {
          // As kafkajs' partitioners: a message's own partition, else one of the partitioner's choosing.
          const a = {
            topic: 't',
            partitionMetadata: empty ? [] : [{ partitionId: 0 }],
            messages,
            partitioner: ({ message }: { message: unknown }) => {
              const m = message as { partition?: number; p: number }
              return m.partition ?? m.p
            },
          }
          expect(ours(a)).toStrictEqual(original(a))
        },
      ),
    )
  })

  it('frames a request exactly as kafkajs’ protocol/request.js does', async () => {
    const { frameRequest } = await import('../../src/kafka/fast-produce.ts')
    const file = require.resolve('kafkajs/src/protocol/request.js')
    const cached = require.cache[file]
    delete require.cache[file]
    const original = require(file) as typeof frameRequest
    if (cached) require.cache[file] = cached
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 70 }),
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        fc.oneof(fc.constant(null), fc.string({ unit: 'grapheme', maxLength: 40 })),
        fc.uint8Array({ maxLength: 3000 }),
        async (apiKey, apiVersion, correlationId, clientId, body) => {
          const request = {
            apiKey,
            apiVersion,
            encode: async () => new KafkajsEncoder().writeBuffer(Buffer.from(body)),
          }
          const a = await frameRequest({ correlationId, clientId, request })
          const b = await original({ correlationId, clientId, request })
          expect(a.buffer.equals(b.buffer)).toBe(true)
        },
      ),
    )
  })

  it('once installed, kafkajs builds every Produce version 3-7 request with it', async () => {
    installFastProduce()
    installFastProduce() // idempotent
    const produce = require('kafkajs/src/protocol/requests/produce/index.js') as {
      protocol: (o: { version: number }) => (a: ProduceRequestArgs) => {
        request: { apiVersion: number; encode: () => Promise<{ buffer: Buffer }> }
      }
    }
    const args: ProduceRequestArgs = {
      acks: -1,
      timeout: 5,
      transactionalId: 'tx',
      producerId: 7,
      producerEpoch: 1,
      topicData: [
        {
          topic: 't',
          partitions: [{ partition: 1, firstSequence: 4, messages: [{ key: 'k', value: 'v' }] }],
        },
      ],
    }
    vi.spyOn(Date, 'now').mockReturnValue(NOW)
    const spy = vi.spyOn(Buffer, 'allocUnsafe')
    for (const version of [3, 4, 5, 6, 7]) {
      spy.mockClear()
      const { request } = produce.protocol({ version })(args)
      expect(request.apiVersion).toBe(version)
      const body = (await request.encode()).buffer
      expect(body.equals(await kafkajsBytes(args))).toBe(true)
      // Our writer allocates its one buffer with allocUnsafe; kafkajs' encoders use Buffer.alloc.
      expect(spy).toHaveBeenCalled()
    }
  })
})
