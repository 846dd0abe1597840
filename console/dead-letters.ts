/**
 * Dead letters: a topology's newest dead letters with their reason and original command; one inspected; one or a
 * selection replayed to the commands topic (write permission; recorded on the command and in the worker's log),
 * with each replay's reply. Routes: #/dlq/<topology>?partition= and #/dlq/<topology>/<partition>/<offset>
 */
import type { DeadLetter, DeadLetterList, ReplayAnswer } from '../src/http/console-api.ts'
import type { PageContext, Route } from './app.ts'
import { api, errorBox, h, jsonBlock, link, mount, refusal, time } from './dom.ts'

export async function deadLettersPage(route: Route, ctx: PageContext): Promise<void> {
  const topologies = ctx.catalog.topologies
  const name = route.parts[0] ?? topologies[0]?.name ?? ''
  const select = h(
    'select',
    { id: 'dlq-topology', onchange: () => (location.hash = link(['dlq', select.value])) },
    topologies.map((t) =>
      h('option', { value: t.name, ...(t.name === name ? { selected: true } : {}) }, t.name),
    ),
  )
  mount(
    ctx.main,
    h('h1', {}, 'Dead letters'),
    h(
      'form',
      { class: 'row', 'aria-label': 'Topology' },
      h('label', { for: 'dlq-topology' }, 'Topology'),
      select,
    ),
  )
  const base = `/dead-letters/${encodeURIComponent(name)}`
  const results = h('div', { 'data-testid': 'replay-results', 'aria-live': 'polite' })
  const replay = async (records: { partition: number; offset: string }[]) => {
    mount(results, h('p', { class: 'muted' }, `Replaying ${records.length}…`))
    try {
      const a = await api<ReplayAnswer>(`${base}/replay`, {
        method: 'POST',
        body: { records, waitMs: 20_000 },
        timeoutMs: 60_000,
      })
      if (a.status !== 200 && a.status !== 207) return mount(results, errorBox(refusal(a.status, a.body)))
      mount(results, replayResults(a.body, name))
    } catch (e) {
      mount(results, errorBox((e as Error).message))
    }
  }

  if (route.parts.length >= 3) {
    const [partition, offset] = [route.parts[1]!, route.parts[2]!]
    const a = await api<{ deadLetter: DeadLetter }>(
      `${base}/${encodeURIComponent(partition)}/${encodeURIComponent(offset)}`,
      {
        signal: ctx.signal,
      },
    )
    if (a.status !== 200) return void ctx.main.append(errorBox(refusal(a.status, a.body)))
    const d = a.body.deadLetter
    ctx.main.append(
      h('p', {}, h('a', { href: link(['dlq', name]) }, `All dead letters of ${name}`)),
      detail(d, name),
      h(
        'p',
        {},
        h(
          'button',
          {
            type: 'button',
            'data-testid': 'replay-one',
            ...(ctx.catalog.permissions.write ? {} : { disabled: true, title: 'needs the write permission' }),
            onclick: () => void replay([{ partition: d.partition, offset: d.offset }]),
          },
          'Replay to the commands topic',
        ),
      ),
      results,
    )
    return
  }

  const a = await api<DeadLetterList>(
    `${base}?limit=100${route.query.get('partition') ? `&partition=${encodeURIComponent(route.query.get('partition')!)}` : ''}`,
    {
      signal: ctx.signal,
      timeoutMs: 30_000,
    },
  )
  if (a.status !== 200) return void ctx.main.append(errorBox(refusal(a.status, a.body)))
  const list = a.body.deadLetters.sort((x, y) => (x.timestamp < y.timestamp ? 1 : -1))
  ctx.main.append(
    h(
      'p',
      { 'data-testid': 'dlq-count' },
      `${list.length} dead letter${list.length === 1 ? '' : 's'} in ${a.body.topic} (the newest 100 per partition)`,
    ),
  )
  if (list.length === 0) return
  const boxes: { box: HTMLInputElement; d: DeadLetter }[] = []
  const replaySelected = h(
    'button',
    {
      type: 'button',
      'data-testid': 'replay-selected',
      ...(ctx.catalog.permissions.write ? {} : { disabled: true, title: 'needs the write permission' }),
      onclick: () => {
        const chosen = boxes
          .filter((b) => b.box.checked)
          .map((b) => ({ partition: b.d.partition, offset: b.d.offset }))
        if (chosen.length === 0) return mount(results, errorBox('Select the dead letters to replay first.'))
        void replay(chosen)
      },
    },
    'Replay selected',
  )
  ctx.main.append(
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { 'data-testid': 'dlq-table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['', 'Where', 'When', 'Reason', 'Aggregate', 'Command', 'Message'].map((t) =>
              h('th', { scope: 'col' }, t),
            ),
          ),
        ),
        h(
          'tbody',
          {},
          list.map((d) => {
            const box = h('input', { type: 'checkbox', 'aria-label': `select ${d.partition}:${d.offset}` })
            boxes.push({ box, d })
            return h(
              'tr',
              { 'data-dlq': `${d.partition}:${d.offset}` },
              h('td', {}, box),
              h(
                'td',
                {},
                h(
                  'a',
                  { href: link(['dlq', name, String(d.partition), d.offset]) },
                  `${d.partition}:${d.offset}`,
                ),
              ),
              h('td', {}, time(d.timestamp)),
              h('td', { 'data-testid': 'dlq-reason' }, d.reason),
              h('td', {}, d.aggregateId),
              h('td', {}, d.command?.type ?? d.undecodable ?? ''),
              h(
                'td',
                { class: 'wrap' },
                d.message,
                d.replayOf
                  ? h('div', { class: 'muted' }, `replay of ${d.replayOf} by ${d.replayedBy ?? '?'}`)
                  : null,
              ),
            )
          }),
        ),
      ),
    ),
    h('p', {}, replaySelected),
    results,
  )
}

function detail(d: DeadLetter, topology: string): HTMLElement {
  const row = (k: string, v: Node | string) => [h('dt', {}, k), h('dd', {}, v)]
  return h(
    'section',
    { 'data-testid': 'dlq-detail' },
    h('h2', {}, `${d.topic} ${d.partition}:${d.offset}`),
    h(
      'dl',
      { class: 'kv' },
      row('Reason', h('span', { 'data-testid': 'dlq-reason' }, d.reason)),
      row('Message', d.message),
      row('Written', time(d.timestamp)),
      row(
        'From',
        `${d.source.topic} partition ${d.source.partition ?? '?'} offset ${d.source.offset ?? '?'}`,
      ),
      row(
        'Aggregate',
        d.aggregateId === ''
          ? '(no key)'
          : h('a', { href: link(['aggregate', topology, d.aggregateId]) }, d.aggregateId),
      ),
      row('Command', d.command?.type ?? d.undecodable ?? ''),
      row('Command id', d.command?.commandId ?? ''),
      ...(d.replayOf ? row('Replay of', `${d.replayOf} by ${d.replayedBy ?? '?'}`) : []),
    ),
    h('h3', {}, 'Payload'),
    jsonBlock(d.command?.payload ?? null, 'dlq-payload'),
    h('details', {}, h('summary', {}, 'Headers'), jsonBlock(d.headers)),
  )
}

function replayResults(a: ReplayAnswer, topology: string): HTMLElement {
  return h(
    'ul',
    {},
    a.results.map((r) => {
      const reply = r.reply as
        { status?: string; version?: number; error?: { code: string; message: string } } | undefined
      return h(
        'li',
        { 'data-replayed': `${r.partition}:${r.offset}` },
        `${r.partition}:${r.offset} `,
        r.ok
          ? [
              `replayed by ${a.replayedBy} to ${r.sentTo?.topic ?? ''} ${r.sentTo?.partition ?? ''}:${r.sentTo?.offset ?? ''}; reply: `,
              h(
                'strong',
                { 'data-testid': 'replay-reply', class: reply?.status === 'accepted' ? 'ok' : 'bad' },
                reply?.status ?? 'not waited for',
              ),
              reply?.version !== undefined ? ` (version ${reply.version})` : '',
              reply?.error ? ` ${reply.error.code}: ${reply.error.message}` : '',
            ]
          : h('span', { class: 'bad' }, `not replayed: ${r.error ?? ''}`),
        r.ok ? [' ', h('a', { href: link(['dlq', topology]) }, 'reload')] : null,
      )
    }),
  )
}
