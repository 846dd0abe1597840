import { describe, expect, it } from 'vitest'
import {
  commandEnvelopeSchema,
  HEADERS,
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
    expect(OFFSET_MARKER_KEY.startsWith('\u0000')).toBe(true)
    expect(HEADERS.errorCode).toBe('kd-error-code')
    expect(HEADERS.contentType).toBe('content-type')
  })
})
