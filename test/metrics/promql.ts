/** Metric names a PromQL expression (or a Grafana query such as label_values(...)) reads. Good enough for dashboards. */
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
])
const GROUPING = /\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g

export function metricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ') // string literals
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range / subquery durations
    .replace(GROUPING, ' ')
    .replace(/\$\w+/g, ' ') // Grafana variables outside the places above
  const out = new Set<string>()
  for (const m of s.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = m
    if (call || !name || KEYWORDS.has(name.toLowerCase())) continue
    // a number like 1e3 starts with a digit and never matches; a label name in label_values(m, label) does: skip
    // identifiers that directly follow a comma inside label_values(...)
    const before = s.slice(0, m.index).trimEnd()
    if (before.endsWith(',') && /label_values\s*\([^)]*$/.test(before)) continue
    out.add(name)
  }
  return [...out]
}

/** The histogram/summary series suffixes a query may use; the registry knows the base name. */
export function baseName(name: string): string {
  return name.replace(/_(bucket|sum|count)$/, '')
}

export interface DashboardQuery {
  panel: string
  expr: string
}

/** Every PromQL expression of a Grafana dashboard: panel targets (nested rows too) and query variables. */
export function dashboardQueries(dashboard: unknown): DashboardQuery[] {
  const out: DashboardQuery[] = []
  const d = dashboard as {
    panels?: Panel[]
    templating?: {
      list?: { name: string; type: string; query?: string | { query?: string }; definition?: string }[]
    }
  }
  interface Panel {
    title?: string
    panels?: Panel[]
    targets?: { expr?: string }[]
  }
  const walk = (ps: Panel[] | undefined) => {
    for (const p of ps ?? []) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ panel: p.title ?? '?', expr: t.expr })
      walk(p.panels)
    }
  }
  walk(d.panels)
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue
    const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? v.definition)
    if (q) out.push({ panel: `$${v.name}`, expr: q })
  }
  return out
}

/** Queried metrics missing from `known` (registry names), as "panel: metric". */
export function missingMetrics(dashboard: unknown, known: ReadonlySet<string>): string[] {
  const missing: string[] = []
  for (const q of dashboardQueries(dashboard)) {
    for (const n of metricNames(q.expr))
      if (!known.has(n) && !known.has(baseName(n))) missing.push(`${q.panel}: ${n}`)
  }
  return missing
}
