/** The fetched-record decoder in numbers (src/kafka/fast-fetch.ts) against kafkajs' own, and its installation. */
import { createRequire } from 'node:module'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeRecord, kafkajsRecordDecoder, type KafkajsDecoder } from '../../src/kafka/fast-fetch.ts'
import { afterPackageLoad } from '../support/preload-probe.ts'

const require = createRequire(import.meta.url)
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => KafkajsDecoder
const Long = require('kafkajs/src/utils/long.js') as { fromString(s: string): unknown }
const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (r: {
  offsetDelta?: number
  timestampDelta?: unknown
  key: Buffer | null
  value: Buffer | null
  headers?: Record<string, Buffer | Buffer[]>
}) => { buffer: Buffer }

/** A record's body as the batch decoder hands it to the record decoder (its varint length read). */
function body(r: Parameters<typeof encodeRecord>[0]): Buffer {
  return new Decoder(encodeRecord(r).buffer).readVarIntBytes()!
}

/** Both decoders on the same bytes and context; the decoders must also leave the same offset behind. */
function both(bytes: Buffer, context: Record<string, unknown>): [unknown, unknown] {
  const a = new Decoder(bytes)
  const b = new Decoder(bytes)
  const theirs = kafkajsRecordDecoder()(a, context)
  const ours = decodeRecord(b, context)
  expect(b.offset).toBe(a.offset)
  return [ours, theirs]
}

const prototypeNames = new Set(Object.getOwnPropertyNames(Object.prototype))
const headerName = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((k) => !prototypeNames.has(k))
const bytes = fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a))
const decimal = (min: bigint, max: bigint) => fc.bigInt({ min, max }).map(String)

describe('fetched record decoding', () => {
  it('gives the object kafkajs gives, for any record and batch context (numbers past 2^53 through kafkajs)', () => {
    fc.assert(
      fc.property(
        fc.record({
          offsetDelta: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          timestampDelta: fc.oneof(
            fc.integer({ min: -1000, max: 1_000_000 }),
            fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }),
          ),
          key: fc.option(bytes, { nil: null }),
          value: fc.option(bytes, { nil: null }),
          headers: fc.array(fc.tuple(headerName, bytes), { maxLength: 6 }),
        }),
        fc.record({
          firstOffset: fc.oneof(decimal(0n, 2n ** 40n), decimal(2n ** 52n, 2n ** 63n - 1n)),
          firstTimestamp: fc.oneof(decimal(-1n, 2n ** 42n), decimal(2n ** 53n - 10n, 2n ** 60n)),
          magicByte: fc.constant(2),
          isControlBatch: fc.boolean(),
          timestampType: fc.constantFrom(0, 1),
          maxTimestamp: decimal(0n, 2n ** 42n),
        }),
        (r, context) => {
          const headers: Record<string, Buffer | Buffer[]> = {}
          for (const [k, v] of r.headers) {
            const prev = headers[k]
            headers[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v]
          }
          const timestampDelta =
            typeof r.timestampDelta === 'bigint'
              ? Long.fromString(String(r.timestampDelta))
              : r.timestampDelta
          const [ours, theirs] = both(body({ ...r, timestampDelta, headers }), context)
          expect(ours).toStrictEqual(theirs)
        },
      ),
      { numRuns: 3000 },
    )
  })

  it('records of a batch one after the other, and a second batch, each with its own first offset', () => {
    const bytesOf = (i: number) =>
      body({ offsetDelta: i, timestampDelta: i * 3, key: Buffer.from(`k${i}`), value: null })
    for (const context of [
      { firstOffset: '100', firstTimestamp: '1765000000000', magicByte: 2 },
      { firstOffset: '7', firstTimestamp: '-1', magicByte: 2 },
    ]) {
      for (let i = 0; i < 5; i++) {
        const [ours, theirs] = both(bytesOf(i), context)
        expect(ours).toStrictEqual(theirs)
      }
    }
  })

  it("keeps headers named like Object.prototype's properties as own headers", () => {
    const d = new Decoder(
      body({
        key: null,
        value: Buffer.from('v'),
        // A computed key: an own property named __proto__ (a plain `__proto__:` would set the prototype).
        headers: {
          ['__proto__']: Buffer.from('p'),
          constructor: [Buffer.from('a'), Buffer.from('b')],
        } as never,
      }),
    )
    const r = decodeRecord(d, { firstOffset: '0', firstTimestamp: '0' }) as {
      headers: Record<string, unknown>
    }
    expect(Object.getPrototypeOf(r.headers)).toBe(Object.prototype)
    expect(Object.keys(r.headers).sort()).toEqual(['__proto__', 'constructor'])
    expect(Object.getOwnPropertyDescriptor(r.headers, '__proto__')?.value).toEqual(Buffer.from('p'))
    expect(r.headers.constructor).toEqual([Buffer.from('a'), Buffer.from('b')])
  })

  it("is kafkajs' record decoder once the package is loaded (in a fresh process)", () => {
    const probe = afterPackageLoad(['kafkajs/src/protocol/recordBatch/record/v0/decoder.js'])
    expect(probe).toBe('decodeRecord')
  })
})
