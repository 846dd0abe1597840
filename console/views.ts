/**
 * Read models: each projection's partitions and lag (GET /cluster), one view by key (GET /views/<p>/<key>), and a
 * range of views in key order (GET /views/<p>?prefix=&after=&limit=). Route: #/views/<projection>?key=|prefix=&after=
 */
import type { ClusterAnswer } from '../src/http/console-api.ts'
import type { PageContext, Route } from './app.ts'
import { api, errorBox, h, jsonBlock, link, mount, refusal } from './dom.ts'

export async function viewsPage(route: Route, ctx: PageContext): Promise<void> {
  const projections = ctx.catalog.projections
  mount(ctx.main, h('h1', {}, 'Read models'))
  if (projections.length === 0)
    return void ctx.main.append(
      h('p', { class: 'muted' }, 'This worker runs no projections (kind: projection).'),
    )
  const name = route.parts[0] ?? projections[0]!.name
  const q = route.query
  const cluster = await api<ClusterAnswer>('/cluster', { signal: ctx.signal })
  ctx.main.append(
    h(
      'table',
      { 'data-testid': 'projections' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Projection', 'Sources', 'Partitions', 'Running', 'Total lag'].map((t) =>
            h('th', { scope: 'col' }, t),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        projections.map((p) => {
          const g = cluster.status === 200 ? cluster.body.groups.find((x) => x.name === p.name) : undefined
          const running = g?.partitions.filter((x) => x.state === 'RUNNING').length
          const lag = g?.partitions.reduce((a, x) => a + (x.lag ?? 0), 0)
          return h(
            'tr',
            {},
            h('td', {}, h('a', { href: link(['views', p.name]) }, p.name)),
            h('td', {}, p.sources.join(', ')),
            h('td', {}, String(p.partitions)),
            h('td', {}, running === undefined ? '?' : `${running}/${p.partitions}`),
            h('td', {}, lag === undefined ? '?' : String(lag)),
          )
        }),
      ),
    ),
  )
  const key = h('input', { id: 'view-key', value: q.get('key') ?? '', placeholder: 'view key' })
  const prefix = h('input', {
    id: 'view-prefix',
    value: q.get('prefix') ?? '',
    placeholder: 'key prefix (empty: all)',
  })
  const one = h(
    'form',
    { class: 'row', role: 'search', 'aria-label': 'Look up a view' },
    h('label', { for: 'view-key' }, 'Key'),
    key,
    h('button', { type: 'submit' }, 'Look up'),
  )
  one.addEventListener('submit', (e) => {
    e.preventDefault()
    location.hash = link(['views', name], { key: key.value })
  })
  const range = h(
    'form',
    { class: 'row', role: 'search', 'aria-label': 'List views' },
    h('label', { for: 'view-prefix' }, 'Prefix'),
    prefix,
    h('button', { type: 'submit' }, 'List'),
  )
  range.addEventListener('submit', (e) => {
    e.preventDefault()
    location.hash = link(['views', name], { prefix: prefix.value, list: '1' })
  })
  const out = h('div', { 'data-testid': 'views-out' })
  ctx.main.append(h('h2', {}, `Views of ${name}`), one, range, out)
  const base = `/views/${encodeURIComponent(name)}`
  if (q.get('key')) {
    const a = await api<{ view: unknown; partition: number }>(
      `${base}/${encodeURIComponent(q.get('key')!)}`,
      { signal: ctx.signal },
    )
    if (a.status !== 200) return mount(out, errorBox(refusal(a.status, a.body)))
    return mount(out, h('p', {}, `Partition ${a.body.partition}`), jsonBlock(a.body.view, 'view-json'))
  }
  if (q.get('list')) {
    const qs = new URLSearchParams({ limit: '50' })
    if (q.get('prefix')) qs.set('prefix', q.get('prefix')!)
    if (q.get('after')) qs.set('after', q.get('after')!)
    const a = await api<{ views: { key: string; view: unknown }[]; next?: string }>(
      `${base}?${qs.toString()}`,
      {
        signal: ctx.signal,
        timeoutMs: 30_000,
      },
    )
    if (a.status !== 200) return mount(out, errorBox(refusal(a.status, a.body)))
    mount(
      out,
      h(
        'table',
        { 'data-testid': 'views-table' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'View'))),
        h(
          'tbody',
          {},
          a.body.views.map((v) =>
            h(
              'tr',
              {},
              h('td', {}, h('a', { href: link(['views', name], { key: v.key }) }, v.key)),
              h('td', {}, h('code', {}, JSON.stringify(v.view))),
            ),
          ),
        ),
      ),
      a.body.next !== undefined
        ? h(
            'p',
            {},
            h(
              'a',
              {
                href: link(['views', name], { prefix: q.get('prefix') ?? '', after: a.body.next, list: '1' }),
              },
              'Next page',
            ),
          )
        : null,
    )
  }
}
