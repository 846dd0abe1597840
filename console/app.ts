/**
 * The kafka-decider web console: one page, its views are #/ routes (shareable URLs), every number read from the
 * worker's HTTP API with the caller's token (README "Console"). No framework: the DOM, fetch and these modules.
 */
import type { CatalogAnswer } from '../src/http/console-api.ts'
import { api, errorBox, h, mount, refusal, setToken, token } from './dom.ts'
import { overviewPage } from './overview.ts'
import { aggregatePage } from './aggregate.ts'
import { deadLettersPage } from './dead-letters.ts'
import { sendPage } from './send.ts'
import { viewsPage } from './views.ts'

export interface Route {
  parts: string[]
  query: URLSearchParams
}

export interface PageContext {
  catalog: CatalogAnswer
  /** Aborted when the page is left: stops its polling and requests. */
  signal: AbortSignal
  main: HTMLElement
}

type Page = (route: Route, ctx: PageContext) => Promise<void> | void

const PAGES: Record<string, { title: string; page: Page }> = {
  '': { title: 'Overview', page: overviewPage },
  aggregate: { title: 'Aggregates', page: aggregatePage },
  views: { title: 'Read models', page: viewsPage },
  dlq: { title: 'Dead letters', page: deadLettersPage },
  send: { title: 'Send a command', page: sendPage },
}

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#\/?/, '')
  const [path = '', qs = ''] = raw.split('?', 2)
  const parts = path === '' ? [] : path.split('/').map((p) => decodeURIComponent(p))
  return { parts, query: new URLSearchParams(qs) }
}

let current: AbortController | undefined
let catalog: CatalogAnswer | undefined

async function loadCatalog(): Promise<CatalogAnswer | string> {
  const a = await api<CatalogAnswer>('/topologies')
  if (a.status === 200) return a.body
  if (a.status === 401 || a.status === 403)
    return `${refusal(a.status, a.body)}. Enter a token with the read permission above.`
  return refusal(a.status, a.body)
}

async function render(): Promise<void> {
  current?.abort()
  const controller = new AbortController()
  current = controller
  const main = document.getElementById('main')!
  const route = parseHash(location.hash)
  const name = route.parts[0] ?? ''
  const entry = PAGES[name]
  renderNav(name)
  if (catalog === undefined) {
    try {
      const c = await loadCatalog()
      if (typeof c === 'string') {
        mount(main, h('h1', {}, 'kafka-decider console'), errorBox(c))
        return
      }
      catalog = c
      renderWho()
    } catch (e) {
      mount(main, errorBox((e as Error).message))
      return
    }
  }
  if (controller.signal.aborted) return
  if (entry === undefined) {
    mount(
      main,
      h('h1', {}, 'Not found'),
      h('p', {}, `No page "${name}". `, h('a', { href: '#/' }, 'Overview')),
    )
    return
  }
  document.title = `${entry.title} · kafka-decider`
  mount(main)
  try {
    await entry.page(
      { parts: route.parts.slice(1), query: route.query },
      { catalog, signal: controller.signal, main },
    )
  } catch (e) {
    if (!controller.signal.aborted) main.append(errorBox((e as Error).message))
  }
}

function renderNav(active: string): void {
  const nav = document.getElementById('nav')!
  mount(
    nav,
    h(
      'ul',
      {},
      Object.entries(PAGES).map(([key, p]) =>
        h(
          'li',
          {},
          h('a', { href: `#/${key}`, ...(key === active ? { 'aria-current': 'page' } : {}) }, p.title),
        ),
      ),
    ),
  )
}

function renderWho(): void {
  const who = document.getElementById('who')!
  if (catalog === undefined) return void (who.textContent = '')
  const p = catalog.permissions
  who.textContent = `may ${[p.read ? 'read' : '', p.write ? 'write' : ''].filter(Boolean).join(' and ') || 'nothing'}`
  who.setAttribute('data-testid', 'permissions')
}

function start(): void {
  const form = document.getElementById('token-form') as HTMLFormElement
  const input = document.getElementById('token') as HTMLInputElement
  input.value = token()
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    setToken(input.value.trim())
    catalog = undefined
    void render()
  })
  window.addEventListener('hashchange', () => void render())
  void render()
}

start()
