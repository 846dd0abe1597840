import { describe, expect, it } from 'vitest'
import {
  checkAggregateId,
  checkAggregateKey,
  commandEnvelopeSchema,
  HEADERS,
  isReservedKey,
  MAX_AGGREGATE_ID_BYTES,
  OFFSET_MARKER_KEY,
  REPLY_STATUSES,
} from '../../src/domain/envelopes.ts'

describe('command envelope schema', () => {
  it('accepts the minimal and the full envelope, keeping extra metadata', () => {
    expect(commandEnvelopeSchema.safeParse({ commandId: 'c', type: 'T', payload: null }).success).toBe(true)
    const full = {
      commandId: 'c',
      type: 'T',
      payload: { x: 1 },
      expectedVersion: 3,
      metadata: { correlationId: 'k', causationId: 'z', issuedAt: 1_700_000_000_000, tenant: 'acme' },
    }
    const r = commandEnvelopeSchema.safeParse(full)
    expect(r.success && r.data).toEqual(full)
  })

  it.each([
    ['missing commandId', { type: 'T', payload: 1 }, 'commandId'],
    ['empty commandId', { commandId: '', type: 'T', payload: 1 }, 'commandId'],
    ['commandId too long', { commandId: 'x'.repeat(257), type: 'T', payload: 1 }, 'commandId'],
    ['missing type', { commandId: 'c', payload: 1 }, 'type'],
    [
      'negative expectedVersion',
      { commandId: 'c', type: 'T', payload: 1, expectedVersion: -1 },
      'expectedVersion',
    ],
    [
      'fractional expectedVersion',
      { commandId: 'c', type: 'T', payload: 1, expectedVersion: 1.5 },
      'expectedVersion',
    ],
    [
      'empty correlationId',
      { commandId: 'c', type: 'T', payload: 1, metadata: { correlationId: '' } },
      'metadata',
    ],
    [
      'issuedAt of the wrong type',
      { commandId: 'c', type: 'T', payload: 1, metadata: { issuedAt: true } },
      'metadata',
    ],
  ])('rejects %s', (_name, value, field) => {
    const r = commandEnvelopeSchema.safeParse(value)
    expect(r.success).toBe(false)
    expect(r.error!.issues[0]!.path[0]).toBe(field)
  })

  it('rejects non-objects', () => {
    for (const v of [null, 1, 'x', [], true]) expect(commandEnvelopeSchema.safeParse(v).success).toBe(false)
  })

  it('wire constants', () => {
    expect(REPLY_STATUSES).toEqual(['accepted', 'rejected', 'duplicate', 'conflict', 'invalid', 'failed'])
    // Existing changelogs hold their markers under this key: it must not change.
    expect(OFFSET_MARKER_KEY).toBe('\u0000kafka-decider/offset-marker')
    expect(isReservedKey(OFFSET_MARKER_KEY)).toBe(true)
    expect(HEADERS.expectedPartition).toBe('kd-expected-partition')
    expect(HEADERS.errorCode).toBe('kd-error-code')
    expect(HEADERS.contentType).toBe('content-type')
  })
})

describe('aggregate ids (command keys)', () => {
  const code = (k: Buffer | null) => checkAggregateKey(k)?.code
  it('accepts UTF-8 keys up to the limit, outside the reserved space', () => {
    for (const id of [
      'acc-1',
      'ünïcødé',
      '🦀',
      '\ufeffbom-kept',
      'a\u0000b',
      'x'.repeat(MAX_AGGREGATE_ID_BYTES),
    ])
      expect(checkAggregateId(id), JSON.stringify(id)).toBeUndefined()
  })

  it('refuses: none, not UTF-8, too long, reserved', () => {
    expect(code(null)).toBe('missing_key')
    expect(code(Buffer.alloc(0))).toBe('missing_key')
    for (const bytes of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf4, 0x90, 0x80, 0x80]])
      expect(code(Buffer.from(bytes)), Buffer.from(bytes).toString('hex')).toBe('invalid_key')
    expect(code(Buffer.from('x'.repeat(MAX_AGGREGATE_ID_BYTES + 1)))).toBe('invalid_key')
    expect(code(Buffer.from(OFFSET_MARKER_KEY))).toBe('reserved_key')
    expect(code(Buffer.from('\u0000'))).toBe('reserved_key')
    expect(checkAggregateId('lone \udc00')?.code).toBe('invalid_key')
    expect(checkAggregateId('')?.code).toBe('missing_key')
  })
})
