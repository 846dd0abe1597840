/** Overview: workers, and each topology's and projection's partitions with owner, state and lag; polled live. */
import type { ClusterAnswer, ClusterGroup } from '../src/http/console-api.ts'
import type { PageContext, Route } from './app.ts'
import { api, errorBox, h, link, mount, refusal } from './dom.ts'

const POLL_MS = 2000

export async function overviewPage(_route: Route, ctx: PageContext): Promise<void> {
  const status = h(
    'p',
    { class: 'muted', 'aria-live': 'polite', 'data-testid': 'overview-status' },
    'Loading…',
  )
  const body = h('div')
  mount(ctx.main, h('h1', {}, 'Overview'), status, body)
  let previous: ClusterAnswer | undefined
  for (let round = 0; !ctx.signal.aborted; round++) {
    try {
      const a = await api<ClusterAnswer>('/cluster', { signal: ctx.signal })
      if (a.status !== 200) mount(body, errorBox(refusal(a.status, a.body)))
      else {
        mount(body, ...overview(a.body, previous))
        status.textContent = `Live: updated ${new Date(a.body.at).toISOString()} by ${a.body.self} (every ${POLL_MS / 1000} s)`
        previous = a.body
      }
    } catch (e) {
      if (ctx.signal.aborted) return
      status.textContent = `Not updated: ${(e as Error).message}`
    }
    await sleep(POLL_MS, ctx.signal)
  }
}

/** A table that scrolls sideways inside its box on a narrow screen (the page itself does not). */
function scroll(...args: Parameters<typeof h<'table'>>): HTMLElement {
  return h('div', { class: 'scroll' }, h(...args))
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true })
  })
}

function overview(c: ClusterAnswer, previous: ClusterAnswer | undefined): HTMLElement[] {
  const seconds = previous === undefined ? 0 : (c.at - previous.at) / 1000
  return [
    h('h2', {}, 'Workers'),
    scroll(
      'table',
      { 'data-testid': 'workers' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Worker'), h('th', { scope: 'col' }, 'Ready'))),
      h(
        'tbody',
        {},
        c.workers.map((w) =>
          h(
            'tr',
            { 'data-worker': w.url },
            h('td', { class: 'url' }, w.url),
            h(
              'td',
              { class: w.ready ? 'ok' : 'bad' },
              w.ready ? 'ready' : `not ready: ${w.error ?? w.reason ?? ''}`,
              (w.details ?? []).map((d) => h('div', { class: 'muted' }, d)),
            ),
          ),
        ),
      ),
    ),
    ...c.groups.map((g) =>
      group(
        g,
        previous?.groups.find((p) => p.name === g.name),
        seconds,
      ),
    ),
  ]
}

function group(g: ClusterGroup, before: ClusterGroup | undefined, seconds: number): HTMLElement {
  const total = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0)
  const rate = (now: number, then: number | undefined) =>
    then === undefined || seconds <= 0 ? '…' : `${Math.max(0, (now - then) / seconds).toFixed(1)}/s`
  const processed = total(g.counters.commands)
  const failed = (g.counters.commands.failed ?? 0) + (g.counters.commands.invalid ?? 0)
  const detail = g.kind === 'topology' ? link(['dlq', g.name]) : link(['views', g.name])
  return h(
    'section',
    { 'data-testid': `group-${g.name}`, 'aria-labelledby': `g-${g.name}` },
    h(
      'h2',
      { id: `g-${g.name}` },
      `${g.kind === 'topology' ? 'Topology' : 'Projection'} ${g.name} `,
      h('a', { href: detail, class: 'small' }, g.kind === 'topology' ? 'dead letters' : 'views'),
    ),
    h(
      'dl',
      { class: 'counters' },
      h('dt', {}, g.kind === 'topology' ? 'Commands' : 'Events'),
      h('dd', { 'data-testid': 'processed' }, String(processed)),
      h('dt', {}, 'Rate'),
      h('dd', {}, rate(processed, before && total(before.counters.commands))),
      h('dt', {}, g.kind === 'topology' ? 'Events written' : 'Views written'),
      h('dd', {}, String(g.counters.events)),
      h('dt', {}, g.kind === 'topology' ? 'Invalid / failed' : 'Errors'),
      h('dd', {}, String(g.kind === 'topology' ? failed : g.counters.deadLetters)),
      h('dt', {}, 'Dead letters'),
      h('dd', { 'data-testid': 'dead-letters' }, String(g.counters.deadLetters)),
    ),
    scroll(
      'table',
      { 'data-testid': `partitions-${g.name}` },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Partition', 'Owner', 'State', 'Lag', 'Standbys'].map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h(
        'tbody',
        {},
        g.partitions.map((p) =>
          h(
            'tr',
            { 'data-partition': p.partition },
            h('td', {}, String(p.partition)),
            h(
              'td',
              { 'data-testid': 'owner' },
              p.owner ?? h('span', { class: 'bad' }, p.ownerError ?? 'unknown'),
            ),
            h('td', { class: p.state === 'RUNNING' ? 'ok' : 'warn', 'data-testid': 'state' }, p.state ?? '?'),
            h('td', {}, p.lag === null ? '–' : String(p.lag)),
            h(
              'td',
              { class: 'url' },
              p.standbys.length === 0
                ? '–'
                : p.standbys.map((s) =>
                    h(
                      'div',
                      {},
                      `${s.url}: ${s.caughtUp ? 'caught up' : `behind ${s.lag === null ? '?' : s.lag}`}`,
                    ),
                  ),
            ),
          ),
        ),
      ),
    ),
  )
}
