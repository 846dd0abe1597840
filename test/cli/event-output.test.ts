/** How `decider events` prints events: upcast with correction marks by default, as corrected, or as stored. */
import { describe, expect, it } from 'vitest'
import { eventLines, historyView } from '../../src/cli/event-output.ts'
import type { EventEnvelope } from '../../src/domain/envelopes.ts'
import { UsageError } from '../../src/errors.ts'
import bankV2 from '../fixtures/bank-account-v2.ts'

const base = {
  aggregateId: 'a',
  commandId: 'c',
  correlationId: 'c',
  causationId: 'c',
  eventTime: '2024-01-01T00:00:00.000Z',
  recordedAt: '2024-01-01T00:00:00.000Z',
}
const events: EventEnvelope[] = [
  { ...base, eventId: 'a@1', version: 1, type: 'AccountCreated', payload: { owner: 'o' }, schemaVersion: 1 },
  {
    ...base,
    eventId: 'a@2',
    version: 2,
    type: 'MoneyDeposited',
    payload: { amount: 5, balance: 5 },
    schemaVersion: 1,
  },
  {
    ...base,
    eventId: 'a@3',
    version: 3,
    type: 'DepositCorrected',
    payload: { difference: 1, balance: 6 },
    schemaVersion: 1,
    corrects: ['a@2'],
    correctionReason: 'r',
  },
]

describe('decider events output', () => {
  it('prints events upcast, the corrected ones marked; as corrected; or as stored', () => {
    const recorded = eventLines(bankV2, events, {}).map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(recorded[1]).toMatchObject({
      schemaVersion: 2,
      payload: { amount: 5, balance: 5, currency: 'EUR' },
      correctedBy: [{ eventId: 'a@3', reason: 'r' }],
    })
    expect(recorded[2]).toMatchObject({ corrects: ['a@2'], correctionReason: 'r' })
    const corrected = eventLines(bankV2, events, { history: 'corrected' }).map(
      (l) => JSON.parse(l) as EventEnvelope,
    )
    expect(corrected.map((e) => e.eventId)).toEqual(['a@1', 'a@3'])
    expect(eventLines(bankV2, events, { raw: true })).toEqual(events.map((e) => JSON.stringify(e)))
  })

  it('refuses an unknown --history and --raw with --history corrected', () => {
    expect(() => historyView({ history: 'asof' })).toThrow(UsageError)
    expect(() => historyView({ history: 'asof' })).toThrow(
      '--history must be one of recorded, corrected; got "asof"',
    )
    expect(() => historyView({ history: 'corrected', raw: true })).toThrow(
      /--raw prints the events as stored/,
    )
    expect(historyView({})).toBe('recorded')
  })
})
