/** TallyHistogram exposes what prom-client's Histogram exposes for the same observations. */
import fc from 'fast-check'
import { Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { TallyHistogram } from '../../src/metrics/tally-histogram.ts'

const BUCKETS = [0.001, 0.01, 0.1, 1, 10]

describe('TallyHistogram', () => {
  it("writes the series prom-client's Histogram writes, text and JSON, for any observations and label sets", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            topology: fc.constantFrom('a', 'b', 'x y'),
            value: fc.oneof(fc.constantFrom(...BUCKETS, 0, 20), fc.double({ min: 0, max: 30, noNaN: true })),
            n: fc.integer({ min: 1, max: 4 }),
          }),
          { maxLength: 40 },
        ),
        async (observations) => {
          const [theirs, ours] = [new Registry(), new Registry()]
          const o = { name: 'h_seconds', help: 'help', labelNames: ['topology'] as const, buckets: BUCKETS }
          const h = new Histogram({ ...o, labelNames: [...o.labelNames], registers: [theirs] })
          const t = new TallyHistogram(o, [ours])
          for (const { topology, value, n } of observations) {
            for (let i = 0; i < n; i++) h.observe({ topology }, value)
            if (n === 1) t.labels({ topology }).observe(value)
            else t.labels({ topology }).observeMany(value, n)
          }
          // observeMany adds value * n to the sum where prom-client adds value n times: equal up to rounding.
          const sums = (text: string) =>
            text.replace(
              /(_sum\{[^}]*\}) (\S+)/g,
              (_, series: string, v: string) => `${series} ${Number(v).toPrecision(12)}`,
            )
          expect(sums(await ours.metrics())).toBe(sums(await theirs.metrics()))
          const json = async (r: Registry) =>
            (await r.getMetricsAsJSON()).map((m) => ({
              ...m,
              values: m.values.map((v) => ({ ...v, value: Number(v.value.toPrecision(12)) })),
            }))
          expect(await json(ours)).toEqual(await json(theirs))
        },
      ),
      { numRuns: 300 },
    )
  })

  it('ignores values that are not finite, refuses a missing label, and reset() empties it', async () => {
    const r = new Registry()
    const t = new TallyHistogram({ name: 'h', help: 'h', labelNames: ['topology'], buckets: [1] }, [r])
    t.labels({ topology: 'a' }).observe(NaN)
    t.labels({ topology: 'a' }).observeMany(Infinity, 3)
    t.labels({ topology: 'a' }).observe(0.5)
    expect(await r.metrics()).toContain('h_count{topology="a"} 1')
    expect(() => t.labels({} as never)).toThrow(/label topology of h is missing/)
    r.resetMetrics()
    expect(await r.metrics()).not.toContain('h_count')
  })
})
