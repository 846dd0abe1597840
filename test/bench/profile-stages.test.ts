/** bench/profile-stages.ts: a CPU profile's samples split by stage, over the whole profile or a window of it. */
import { describe, expect, it } from 'vitest'
import { stageSplit } from '../../bench/profile-stages.ts'
import type { Profile } from '../../bench/profile-summary.ts'

const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0 })

// root -> processChunk (src/runtime/task.ts, no stage of its own) -> writeBuffer (network) / pack (msgpackr: encode)
const profile: Profile = {
  startTime: 0,
  endTime: 4_000_000,
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 3, 6] },
    { id: 2, callFrame: frame('(idle)') },
    { id: 3, callFrame: frame('processChunk', 'file:///x/src/runtime/task.ts'), children: [4, 5] },
    { id: 4, callFrame: frame('writeBuffer') },
    { id: 5, callFrame: frame('pack', 'file:///x/node_modules/msgpackr/pack.js') },
    { id: 6, callFrame: frame('(garbage collector)') },
  ],
  // samples at 0.5, 1.5, 2.5, 3.5 and 3.9 s
  samples: [4, 5, 2, 4, 6],
  timeDeltas: [500_000, 1_000_000, 1_000_000, 1_000_000, 400_000],
}

describe('stageSplit', () => {
  it('attributes each sample to the stage its stack names, idle left out', () => {
    const split = stageSplit(profile)
    expect(Object.fromEntries(split)).toEqual({ network: 2, encode: 1, gc: 1 })
  })

  it('counts only the samples inside a window of seconds', () => {
    expect(Object.fromEntries(stageSplit(profile, [1, 3]))).toEqual({ encode: 1 })
    expect(Object.fromEntries(stageSplit(profile, [3, 4]))).toEqual({ network: 1, gc: 1 })
  })
})
