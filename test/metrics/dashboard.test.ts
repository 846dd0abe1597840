/**
 * The Grafana dashboard queries only metrics the worker registers: createMetrics() plus whatever a short
 * simulated run (every listener hook) adds. Renaming a metric in src/metrics/metrics.ts without updating
 * config/grafana/dashboards/*.json fails here.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createMetrics, METRIC } from '../../src/metrics/metrics.ts'
import { dashboardQueries, metricNames, missingMetrics } from './promql.ts'
import { simulatedRun } from './simulate.ts'

const dir = fileURLToPath(new URL('../../config/grafana/dashboards/', import.meta.url))
const dashboards = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ file: f, json: JSON.parse(readFileSync(join(dir, f), 'utf8')) as unknown }))

async function registryNames(): Promise<Set<string>> {
  const m = createMetrics()
  await simulatedRun(m)
  return new Set((await m.registry.getMetricsAsJSON()).map((x) => x.name))
}

describe('PromQL metric-name extraction', () => {
  it('finds metrics, not functions, labels, durations, strings or grouping labels', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le) (rate(decider_command_latency_seconds_bucket{topology=~"$topology"}[$__rate_interval])))',
      ),
    ).toEqual(['decider_command_latency_seconds_bucket'])
    expect(
      metricNames(
        'sum(a_total{x="rate(b)"}) / on (instance) group_left (version) c_info or vector(0)',
      ).sort(),
    ).toEqual(['a_total', 'c_info'])
    expect(metricNames('label_values(decider_assigned_partitions, topology)')).toEqual([
      'decider_assigned_partitions',
    ])
    expect(metricNames('rate(process_cpu_seconds_total[5m] offset 1h) > bool 0.5')).toEqual([
      'process_cpu_seconds_total',
    ])
  })
})

describe('Grafana dashboards vs the worker registry', () => {
  it('there is a dashboard and it queries the metrics the issue asks for', () => {
    expect(dashboards.length).toBeGreaterThan(0)
    const queried = new Set(
      dashboards.flatMap((d) => dashboardQueries(d.json).flatMap((q) => metricNames(q.expr))),
    )
    for (const name of [
      `${METRIC.commands}`,
      `${METRIC.commandLatency}_bucket`,
      `${METRIC.lag}`,
      `${METRIC.commitSeconds}_bucket`,
      `${METRIC.transactions}`,
      `${METRIC.restoredRecords}`,
      `${METRIC.rebalances}`,
      `${METRIC.taskState}`,
      `${METRIC.deadLetters}`,
      `${METRIC.projectionEvents}`,
      `${METRIC.projectionDeadLetters}`,
      `${METRIC.projectionLag}`,
      `${METRIC.projectionBatchSeconds}_bucket`,
      `${METRIC.projectionViews}`,
      'process_resident_memory_bytes',
      'process_cpu_seconds_total',
    ]) {
      expect(queried, name).toContain(name)
    }
  })

  it.each(dashboards.map((d) => [d.file, d.json] as const))(
    '%s: every queried metric exists',
    async (_file, json) => {
      expect(missingMetrics(json, await registryNames())).toEqual([])
    },
  )

  it('fails when a queried metric is renamed (in the dashboard or, equivalently, in the registry)', async () => {
    const known = await registryNames()
    const json = dashboards[0]!.json
    const renamedDashboard = JSON.parse(
      JSON.stringify(json).replaceAll(METRIC.commands, 'decider_commands_handled_total'),
    ) as unknown
    expect(missingMetrics(renamedDashboard, known)).toContain(
      'Commands by outcome: decider_commands_handled_total',
    )
    const withoutLag = new Set([...known].filter((n) => n !== METRIC.lag))
    expect(missingMetrics(json, withoutLag).some((m) => m.endsWith(`: ${METRIC.lag}`))).toBe(true)
    const withoutHistogram = new Set([...known].filter((n) => n !== METRIC.commitSeconds))
    expect(
      missingMetrics(json, withoutHistogram).some((m) => m.endsWith(`: ${METRIC.commitSeconds}_bucket`)),
    ).toBe(true)
  })

  it('has a Projections row: applied, duplicates, dead letters, lag per partition, batch p99, views written', () => {
    const json = dashboards.find((d) => d.file === 'kafka-decider.json')!.json as {
      panels: { type: string; title: string; targets?: { expr: string }[] }[]
      templating: { list: { name: string }[] }
    }
    const start = json.panels.findIndex((p) => p.type === 'row' && p.title === 'Projections')
    expect(start).toBeGreaterThan(0)
    const end = json.panels.findIndex((p, i) => i > start && p.type === 'row')
    const row = json.panels.slice(start + 1, end === -1 ? undefined : end)
    expect(row.map((p) => p.title)).toEqual([
      'Events applied/s by projection',
      'Duplicates/s',
      'Projection dead letters',
      'Projection lag by partition',
      'Projection batch time p99',
      'Views written/s',
    ])
    for (const p of row)
      for (const t of p.targets ?? []) {
        expect(
          metricNames(t.expr).every((n) => n.startsWith('decider_projection_')),
          t.expr,
        ).toBe(true)
        expect(t.expr, p.title).toContain('projection=~"$projection"')
      }
    expect(json.templating.list.map((v) => v.name)).toContain('projection')
  })
})
