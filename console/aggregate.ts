/**
 * Aggregate: find one by id; its history as a timeline (version, type, eventTime, recordedAt, payload, the
 * corrections linked both ways); its state at a version and/or as of a business time and a recording time; the
 * difference between its states at two versions. Route: #/aggregate/<topology>/<id>?version=&eventTimeAsOf=
 * &recordedAsOf=&a=&b=
 */
import type { PageContext, Route } from './app.ts'
import { api, errorBox, h, jsonBlock, link, mount, pretty, refusal, time } from './dom.ts'

interface StoredEvent {
  eventId: string
  type: string
  version: number
  payload: unknown
  eventTime: string
  recordedAt: string
  commandId: string
  schemaVersion?: number
  corrects?: string[]
  correctionReason?: string
  correctedBy?: { eventId: string; reason: string }[]
}

interface EventsAnswer {
  partition: number
  aggregateId: string
  events: { offset: string; event: StoredEvent }[]
  nextFromVersion?: number
  answeredBy?: string
}

interface StateAnswer {
  partition: number
  version: number
  state: unknown
  included: number
  total: number
  asOf: Record<string, unknown>
  answeredBy?: string
}

/** Events shown on one page of the timeline (the rest: ?from=). */
const PAGE = 500

export async function aggregatePage(route: Route, ctx: PageContext): Promise<void> {
  const topologies = ctx.catalog.topologies
  const topology = route.parts[0] ?? topologies[0]?.name ?? ''
  const id = route.parts.slice(1).join('/')
  const q = route.query
  const select = h(
    'select',
    { id: 'agg-topology', name: 'topology' },
    topologies.map((t) =>
      h('option', { value: t.name, ...(t.name === topology ? { selected: true } : {}) }, t.name),
    ),
  )
  const input = h('input', {
    id: 'agg-id',
    name: 'id',
    value: id,
    required: true,
    placeholder: 'aggregate id',
  })
  const form = h(
    'form',
    { class: 'row', role: 'search' },
    h('label', { for: 'agg-topology' }, 'Topology'),
    select,
    h('label', { for: 'agg-id' }, 'Aggregate id'),
    input,
    h('button', { type: 'submit' }, 'Show'),
  )
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    location.hash = link(['aggregate', select.value, input.value.trim()])
  })
  mount(ctx.main, h('h1', {}, 'Aggregate'), form)
  if (id === '') {
    input.focus()
    return
  }
  const base = `/aggregates/${encodeURIComponent(topology)}/${encodeURIComponent(id)}`

  // The aggregate's latest version (the fold of every event), then one page of its history: a page is rendered
  // at once, however long the history (?from= pages through it).
  const now = await api<StateAnswer>(`${base}/state`, { signal: ctx.signal })
  // Not foldable here (e.g. above the as-of bound of events): the timeline still shows; the state says why.
  if (now.status !== 200) ctx.main.append(errorBox(refusal(now.status, now.body)))
  const from = Math.max(1, Number.parseInt(q.get('from') ?? '1', 10) || 1)
  const page = await api<EventsAnswer>(`${base}/events?fromVersion=${from}&limit=${PAGE}`, {
    signal: ctx.signal,
  })
  if (page.status !== 200) return void ctx.main.append(errorBox(refusal(page.status, page.body)))
  const events = page.body.events
  const first = events[0]?.event.version
  const last = events[events.length - 1]?.event.version
  const latest = now.status === 200 ? now.body.version : (last ?? 0)
  const total = now.status === 200 ? `${now.body.total} event${now.body.total === 1 ? '' : 's'}` : 'events'
  const keep = (extra: Record<string, string | undefined>) =>
    link(['aggregate', topology, id], { ...Object.fromEntries(q.entries()), ...extra })
  ctx.main.append(
    h(
      'p',
      { 'data-testid': 'aggregate-summary' },
      `${id}: ${total}, version ${latest}, partition ${page.body.partition}`,
      first !== undefined && (first > 1 || page.body.nextFromVersion !== undefined)
        ? [
            ` (v${first} to v${last ?? first} shown) `,
            first > 1
              ? h('a', { href: keep({ from: String(Math.max(1, first - PAGE)) }) }, 'earlier events')
              : null,
            first > 1 && page.body.nextFromVersion !== undefined ? ' · ' : null,
            page.body.nextFromVersion !== undefined
              ? h('a', { href: keep({ from: String(page.body.nextFromVersion) }) }, 'later events')
              : null,
          ]
        : null,
    ),
  )
  if (events.length === 0) {
    ctx.main.append(
      h('p', { class: 'muted', 'data-testid': 'no-events' }, 'No committed events for this id.'),
    )
    return
  }

  const layout = h('div', { class: 'split' })
  ctx.main.append(layout)
  layout.append(timeline(events.map((e) => e.event)))
  const side = h('div', { class: 'side' })
  layout.append(side)
  await stateSection(side, base, q, ctx, topology, id, latest)
  await diffSection(side, base, q, ctx, topology, id, latest)
}

function timeline(events: StoredEvent[]): HTMLElement {
  const byId = new Map(events.map((e) => [e.eventId, e]))
  const correctedBy = new Map<string, StoredEvent[]>()
  for (const e of events)
    for (const c of e.corrects ?? []) correctedBy.set(c, [...(correctedBy.get(c) ?? []), e])
  const jump = (eventId: string) => {
    const target = document.getElementById(`ev-${byId.get(eventId)?.version ?? ''}`)
    if (target === null) return
    target.scrollIntoView({ block: 'center' })
    target.focus()
  }
  const ref = (eventId: string) =>
    byId.has(eventId)
      ? h('button', { type: 'button', class: 'linklike', onclick: () => jump(eventId) }, eventId)
      : h('span', {}, eventId)
  return h(
    'section',
    { 'aria-labelledby': 'timeline-h', class: 'timeline-wrap' },
    h('h2', { id: 'timeline-h' }, 'History'),
    h(
      'ol',
      { class: 'timeline', 'data-testid': 'timeline' },
      events.map((e) =>
        h(
          'li',
          {
            id: `ev-${e.version}`,
            tabindex: -1,
            'data-version': e.version,
            class:
              (e.corrects?.length ? 'correction ' : '') + (correctedBy.has(e.eventId) ? 'corrected' : ''),
          },
          h(
            'div',
            { class: 'ev-head' },
            h('span', { class: 'ev-version', 'data-testid': 'ev-version' }, `v${e.version}`),
            h('strong', { 'data-testid': 'ev-type' }, e.type),
          ),
          h(
            'dl',
            { class: 'ev-times' },
            h('dt', {}, 'eventTime'),
            h('dd', { 'data-testid': 'ev-eventTime' }, time(e.eventTime)),
            h('dt', {}, 'recordedAt'),
            h('dd', { 'data-testid': 'ev-recordedAt' }, time(e.recordedAt)),
          ),
          e.corrects?.length
            ? h(
                'p',
                { class: 'ev-link', 'data-testid': 'ev-corrects' },
                'Corrects ',
                e.corrects.map((c) => ref(c)),
                e.correctionReason ? `: ${e.correctionReason}` : '',
              )
            : null,
          correctedBy.has(e.eventId)
            ? h(
                'p',
                { class: 'ev-link', 'data-testid': 'ev-corrected-by' },
                'Corrected by ',
                correctedBy.get(e.eventId)!.map((c) => ref(c.eventId)),
              )
            : null,
          h('pre', { class: 'json', 'data-testid': 'ev-payload' }, pretty(e.payload)),
        ),
      ),
    ),
  )
}

async function stateAt(
  base: string,
  params: Record<string, string>,
  signal: AbortSignal,
): Promise<{ ok: true; body: StateAnswer } | { ok: false; error: string }> {
  const qs = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '')).toString()
  const a = await api<StateAnswer>(`${base}/state${qs ? `?${qs}` : ''}`, { signal })
  return a.status === 200 ? { ok: true, body: a.body } : { ok: false, error: refusal(a.status, a.body) }
}

async function stateSection(
  side: HTMLElement,
  base: string,
  q: URLSearchParams,
  ctx: PageContext,
  topology: string,
  id: string,
  latest: number,
): Promise<void> {
  const version = q.get('version') ?? ''
  const eventTimeAsOf = q.get('eventTimeAsOf') ?? ''
  const recordedAsOf = q.get('recordedAsOf') ?? ''
  const fields = {
    version: h('input', {
      id: 'st-version',
      type: 'number',
      min: 0,
      max: latest,
      value: version,
      placeholder: String(latest),
    }),
    eventTimeAsOf: h('input', {
      id: 'st-event',
      value: eventTimeAsOf,
      placeholder: 'e.g. 2026-03-01T00:00:00Z',
    }),
    recordedAsOf: h('input', {
      id: 'st-recorded',
      value: recordedAsOf,
      placeholder: 'e.g. 2026-03-01T00:00:00Z',
    }),
  }
  const form = h(
    'form',
    { class: 'grid', 'aria-label': 'State at a version or time' },
    h('label', { for: 'st-version' }, 'At version'),
    fields.version,
    h('label', { for: 'st-event' }, 'As of business time (eventTime)'),
    fields.eventTimeAsOf,
    h('label', { for: 'st-recorded' }, 'As recorded at (recordedAt)'),
    fields.recordedAsOf,
    h('button', { type: 'submit' }, 'Show state'),
  )
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    location.hash = link(['aggregate', topology, id], {
      version: fields.version.value,
      eventTimeAsOf: fields.eventTimeAsOf.value.trim(),
      recordedAsOf: fields.recordedAsOf.value.trim(),
      a: q.get('a') ?? undefined,
      b: q.get('b') ?? undefined,
    })
  })
  const out = h('div', { 'data-testid': 'state' })
  side.append(h('section', { 'aria-labelledby': 'state-h' }, h('h2', { id: 'state-h' }, 'State'), form, out))
  const r = await stateAt(base, { version, eventTimeAsOf, recordedAsOf }, ctx.signal)
  if (!r.ok) return mount(out, errorBox(r.error))
  mount(
    out,
    h(
      'p',
      {},
      'Version ',
      h('strong', { 'data-testid': 'state-version' }, String(r.body.version)),
      ` (${r.body.included} of ${r.body.total} events folded`,
      Object.keys(r.body.asOf).length > 0
        ? `; ${Object.entries(r.body.asOf)
            .map(([k, v]) => `${k} ${String(v)}`)
            .join(', ')}`
        : '',
      ')',
    ),
    jsonBlock(r.body.state, 'state-json'),
  )
}

async function diffSection(
  side: HTMLElement,
  base: string,
  q: URLSearchParams,
  ctx: PageContext,
  topology: string,
  id: string,
  latest: number,
): Promise<void> {
  const a = q.get('a') ?? String(Math.max(0, latest - 1))
  const b = q.get('b') ?? String(latest)
  const fa = h('input', { id: 'diff-a', type: 'number', min: 0, max: latest, value: a })
  const fb = h('input', { id: 'diff-b', type: 'number', min: 0, max: latest, value: b })
  const form = h(
    'form',
    { class: 'row', 'aria-label': 'Difference between two versions' },
    h('label', { for: 'diff-a' }, 'From version'),
    fa,
    h('label', { for: 'diff-b' }, 'to'),
    fb,
    h('button', { type: 'submit' }, 'Compare'),
  )
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const keep = Object.fromEntries([...q.entries()].filter(([k]) => k !== 'a' && k !== 'b'))
    location.hash = link(['aggregate', topology, id], { ...keep, a: fa.value, b: fb.value })
  })
  const out = h('div', { 'data-testid': 'diff' })
  side.append(
    h('section', { 'aria-labelledby': 'diff-h' }, h('h2', { id: 'diff-h' }, 'Difference'), form, out),
  )
  const [sa, sb] = await Promise.all([
    stateAt(base, { version: a }, ctx.signal),
    stateAt(base, { version: b }, ctx.signal),
  ])
  if (!sa.ok) return mount(out, errorBox(sa.error))
  if (!sb.ok) return mount(out, errorBox(sb.error))
  const changes = diff(sa.body.state, sb.body.state)
  if (changes.length === 0)
    return mount(out, h('p', { class: 'muted' }, `No difference between v${a} and v${b}.`))
  mount(
    out,
    h(
      'table',
      { class: 'diff' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Path', `v${a}`, `v${b}`].map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h(
        'tbody',
        {},
        changes.map((c) =>
          h(
            'tr',
            { 'data-path': c.path },
            h('td', {}, c.path),
            h('td', { class: 'del' }, c.before === undefined ? '—' : JSON.stringify(c.before)),
            h('td', { class: 'add' }, c.after === undefined ? '—' : JSON.stringify(c.after)),
          ),
        ),
      ),
    ),
  )
}

/** The leaves that differ between two JSON values, by path (`$.a.b[0]`). */
export function diff(
  before: unknown,
  after: unknown,
  path = '$',
  out: { path: string; before: unknown; after: unknown }[] = [],
): { path: string; before: unknown; after: unknown }[] {
  if (out.length > 500) return out
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null
  if (isObj(before) && isObj(after) && Array.isArray(before) === Array.isArray(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)])
    for (const k of keys)
      diff(before[k], after[k], Array.isArray(before) ? `${path}[${k}]` : `${path}.${k}`, out)
    return out
  }
  if (JSON.stringify(before) !== JSON.stringify(after)) out.push({ path, before, after })
  return out
}
