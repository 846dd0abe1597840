import { describe, expect, it } from 'vitest'
import { CONTENT_TYPES, decode, encode, serializationOfContentType } from '../../src/domain/codec.ts'

const sample = {
  commandId: 'c-1',
  type: 'Deposit',
  payload: { amount: 12, nested: [1, 'two', null, true], big: 2 ** 40 },
  expectedVersion: 0,
}

describe('codec', () => {
  it('msgpack round trip (with and without content-type)', () => {
    const bytes = encode(sample, 'msgpack')
    expect(bytes[0]).not.toBe(0x7b)
    expect(decode(bytes, CONTENT_TYPES.msgpack)).toEqual(sample)
    expect(decode(bytes)).toEqual(sample)
  })

  it('msgpack bytes are plain msgpack (no msgpackr records extension)', () => {
    const bytes = [...encode({ a: 1 }, 'msgpack')]
    // a map header (fixmap or map16), then "a" as a fixstr and 1 as a fixint: no extension types
    expect([
      [0x81, 0xa1, 0x61, 0x01],
      [0xde, 0x00, 0x01, 0xa1, 0x61, 0x01],
    ]).toContainEqual(bytes)
  })

  it('JSON round trip; JSON is sniffed by its first byte when there is no content-type', () => {
    const bytes = encode(sample, 'json')
    expect(bytes.toString()).toBe(JSON.stringify(sample))
    expect(decode(bytes, CONTENT_TYPES.json)).toEqual(sample)
    expect(decode(bytes)).toEqual(sample)
    expect(decode(Buffer.from('{"a":1}'))).toEqual({ a: 1 })
  })

  it('the content-type header wins over sniffing, case-insensitively, with parameters', () => {
    expect(decode(Buffer.from('{"a":1}'), 'Application/JSON; charset=utf-8')).toEqual({ a: 1 })
    expect(decode(encode({ a: 1 }, 'msgpack'), 'application/x-msgpack')).toEqual({ a: 1 })
    // a JSON array is not sniffed as JSON: without a content-type it is read as msgpack (0x5b is a fixint)
    expect(decode(Buffer.from('[1]'), 'application/json')).toEqual([1])
  })

  it('serializationOfContentType', () => {
    expect(serializationOfContentType(undefined)).toBeUndefined()
    expect(serializationOfContentType('text/plain')).toBeUndefined()
    expect(serializationOfContentType('application/vnd.foo+json')).toBe('json')
    expect(serializationOfContentType('application/msgpack')).toBe('msgpack')
  })

  it('bad bytes throw', () => {
    expect(() => decode(Buffer.from('{not json'))).toThrow()
    expect(() => decode(Buffer.from([0x92, 0x01]))).toThrow() // array(2) with one element
    expect(() => decode(Buffer.from([0x01, 0x02]))).toThrow() // trailing bytes
  })
})
