/** Corrections in the domain: the link decide returns, its checks, and the history as recorded and as corrected. */
import { describe, expect, it } from 'vitest'
import {
  checkCorrection,
  correctedHistory,
  correction,
  correctionLinkOf,
  MAX_CORRECTION_REASON,
} from '../../src/domain/corrections.ts'

describe('correction()', () => {
  it('marks the event with its link, which plain data (the wire) does not carry by accident', () => {
    const e = correction({ type: 'Fixed', payload: { n: 1 } }, { corrects: 'a@1', reason: 'typo' })
    expect(Object.keys(e)).toEqual(['type', 'payload'])
    expect(correctionLinkOf(e)).toEqual({ corrects: 'a@1', reason: 'typo' })
    expect(correctionLinkOf({ type: 'Fixed', payload: {} })).toBeUndefined()
    expect(JSON.parse(JSON.stringify(e))).toEqual({ type: 'Fixed', payload: { n: 1 } })
  })

  it('checkCorrection: earlier events of the same aggregate, deduplicated, with a reason (cut)', () => {
    expect(checkCorrection({ corrects: ['a@1', 'a@3', 'a@1'], reason: 'r' }, 'a', 3)).toEqual({
      corrects: ['a@1', 'a@3'],
      correctionReason: 'r',
    })
    const long = checkCorrection({ corrects: 'a@1', reason: 'x'.repeat(5000) }, 'a', 1)
    expect('correctionReason' in long && long.correctionReason.length).toBe(MAX_CORRECTION_REASON)
    const problem = (link: Parameters<typeof checkCorrection>[0], id = 'a', version = 3) => {
      const r = checkCorrection(link, id, version)
      return 'problem' in r ? r.problem : undefined
    }
    expect(problem({ corrects: 'a@4', reason: 'r' })).toMatch(
      /"a@4", which is not an earlier event of aggregate a \(its eventIds are a@1..3\)/,
    )
    expect(problem({ corrects: 'a@0', reason: 'r' })).toMatch(/not an earlier event/)
    expect(problem({ corrects: 'b@1', reason: 'r' })).toMatch(/not an earlier event/)
    expect(problem({ corrects: 'a@01', reason: 'r' })).toMatch(/not an earlier event/)
    expect(problem({ corrects: 'a@b@1', reason: 'r' }, 'a@b', 1)).toBeUndefined()
    expect(problem({ corrects: [], reason: 'r' })).toMatch(/corrects must be an eventId or a list/)
    expect(problem({ corrects: 'a@1', reason: ' ' })).toMatch(/reason must be a non-empty string/)
    expect(problem({ corrects: [1] as never, reason: 'r' })).toMatch(/names 1, which/)
  })
})

describe('correctedHistory', () => {
  const ev = (v: number, extra: object = {}) => ({ eventId: `a@${v}`, version: v, ...extra })
  it('as recorded: every event, the corrected ones marked; as corrected: without them', () => {
    const events = [
      ev(1),
      ev(2),
      ev(3),
      ev(4, { corrects: ['a@2'], correctionReason: 'wrong amount' }),
      ev(5, { corrects: ['a@2', 'a@3'], correctionReason: 'both wrong' }),
      ev(6, { corrects: ['a@99'], correctionReason: 'outside the range read' }),
    ]
    const h = correctedHistory(events)
    expect(h.asRecorded.map((e) => e.correctedBy)).toEqual([
      undefined,
      [
        { eventId: 'a@4', reason: 'wrong amount' },
        { eventId: 'a@5', reason: 'both wrong' },
      ],
      [{ eventId: 'a@5', reason: 'both wrong' }],
      undefined,
      undefined,
      undefined,
    ])
    expect(h.asCorrected.map((e) => e.eventId)).toEqual(['a@1', 'a@4', 'a@5', 'a@6'])
    expect(h.asRecorded[0]).toBe(events[0]) // unmarked events are not copied
    expect(events[1]).not.toHaveProperty('correctedBy') // nor changed
  })
})
