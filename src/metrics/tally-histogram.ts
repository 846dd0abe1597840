/**
 * A histogram for per-command observations, exposed through a prom-client registry like a prom-client Histogram
 * (same `_bucket` / `_sum` / `_count` series, cumulative buckets, `le` labels, `+Inf`).
 *
 * prom-client's Histogram does per observation what only needs doing per label set: it checks and hashes the
 * labels (a string built per call, even through a child from `labels()`) and finds the bucket by a property key
 * made from the bound. Two such observations per command were ~2% of a worker's CPU under a backlog. A child here
 * is a counts array found once per batch; `observe` is a bucket search and three additions, and `observeMany` adds
 * n equal observations (every command of a batch has the batch's processing time) at once.
 *
 * The registry takes any object with name, help, type, aggregator, get() and reset() (prom-client's Registry only
 * calls these), so this is registered as it is.
 */
import type { Registry } from 'prom-client'

export class TallyChild {
  /** Per bucket (the last one is +Inf), not cumulative. */
  readonly counts: Float64Array
  sum = 0
  count = 0

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1)
  }

  observe(value: number): void {
    this.observeMany(value, 1)
  }

  /** n observations of `value` (finite, else ignored as prom-client would refuse it). */
  observeMany(value: number, n: number): void {
    if (!Number.isFinite(value) || n <= 0) return
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && value > bounds[i]!) i++
    this.counts[i]! += n
    this.sum += value * n
    this.count += n
  }
}

interface MetricValue {
  labels: Record<string, string | number>
  value: number
  metricName: string
  /** As prom-client writes a bucket without exemplar. */
  exemplar?: null
}

export class TallyHistogram<L extends string> {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  private readonly children = new Map<string, { labels: Record<L, string>; child: TallyChild }>()
  private readonly bounds: readonly number[]

  constructor(
    readonly o: { name: string; help: string; labelNames: readonly L[]; buckets: readonly number[] },
    registers: Registry[],
  ) {
    this.bounds = [...o.buckets].sort((a, b) => a - b)
    for (const r of registers) r.registerMetric(this as never)
  }

  get name(): string {
    return this.o.name
  }

  get help(): string {
    return this.o.help
  }

  /** The child of a label set (every label of labelNames, as strings): look it up once, observe many times. */
  labels(labels: Record<L, string>): TallyChild {
    const key = this.o.labelNames.map((n) => labels[n]).join('\u0000')
    let c = this.children.get(key)
    if (c === undefined) {
      for (const n of this.o.labelNames)
        if (typeof labels[n] !== 'string') throw new TypeError(`label ${n} of ${this.o.name} is missing`)
      c = { labels: { ...labels }, child: new TallyChild(this.bounds) }
      this.children.set(key, c)
    }
    return c.child
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] } {
    const values: MetricValue[] = []
    const bucket = `${this.o.name}_bucket`
    for (const { labels, child } of this.children.values()) {
      let acc = 0
      this.bounds.forEach((le, i) => {
        acc += child.counts[i]!
        values.push({ labels: { le, ...labels }, value: acc, metricName: bucket, exemplar: null })
      })
      values.push({
        labels: { le: '+Inf', ...labels },
        value: child.count,
        metricName: bucket,
        exemplar: null,
      })
      values.push({ labels: { ...labels }, value: child.sum, metricName: `${this.o.name}_sum` })
      values.push({ labels: { ...labels }, value: child.count, metricName: `${this.o.name}_count` })
    }
    return { name: this.o.name, help: this.o.help, type: this.type, aggregator: this.aggregator, values }
  }

  reset(): void {
    this.children.clear()
  }
}
