/** Small DOM and HTTP helpers of the console: no framework, nothing else loaded. */

type Child = Node | string | number | null | undefined | false | Child[]
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>

/** An element: `h('a', { href: '#/', class: 'x', onclick: fn }, 'text', child)`. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v)
    else if (k === 'value' && 'value' in el) (el as HTMLInputElement).value = String(v)
    else el.setAttribute(k, v === true ? '' : String(v))
  }
  append(el, children)
  return el
}

function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue
    if (Array.isArray(c)) append(el, c)
    else el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)))
  }
}

/** Replaces the children of `el`. */
export function mount(el: Element, ...children: Child[]): void {
  el.replaceChildren()
  append(el, children)
}

/** JSON as text, two spaces. */
export function pretty(v: unknown): string {
  return JSON.stringify(v, null, 2) ?? 'undefined'
}

export function jsonBlock(v: unknown, testid?: string): HTMLElement {
  return h('pre', { class: 'json', ...(testid ? { 'data-testid': testid } : {}) }, pretty(v))
}

const TOKEN_KEY = 'kafka-decider-token'

export function token(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? ''
}

export function setToken(t: string): void {
  if (t === '') sessionStorage.removeItem(TOKEN_KEY)
  else sessionStorage.setItem(TOKEN_KEY, t)
}

export interface Answer<T> {
  status: number
  body: T
}

/** An answer that is not JSON, or the worker not reached. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

/**
 * A request to the worker that served the page; every JSON answer is returned with its status (callers decide
 * what a 4xx means), bounded by `timeoutMs`.
 */
export async function api<T>(
  path: string,
  o: { method?: string; body?: unknown; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { accept: 'application/json' }
  const t = token()
  if (t !== '') headers.authorization = `Bearer ${t}`
  if (o.body !== undefined) headers['content-type'] = 'application/json'
  const signals = [AbortSignal.timeout(o.timeoutMs ?? 15_000), ...(o.signal ? [o.signal] : [])]
  let res: Response
  try {
    res = await fetch(path, {
      method: o.method ?? 'GET',
      headers,
      ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
      signal: AbortSignal.any(signals),
    })
  } catch (e) {
    throw new ApiError(0, `the worker did not answer ${path}: ${(e as Error).message}`)
  }
  const text = await res.text()
  try {
    return { status: res.status, body: JSON.parse(text) as T }
  } catch {
    throw new ApiError(res.status, `${res.status} from ${path}: ${text.slice(0, 200)}`)
  }
}

/** The `{ error, code }` of a refusal as one line. */
export function refusal(status: number, body: unknown): string {
  const b = (body ?? {}) as { error?: unknown; code?: unknown }
  return `${status}${b.code ? ` ${String(b.code)}` : ''}: ${String(b.error ?? 'no reason given')}`
}

export function errorBox(message: string): HTMLElement {
  return h('p', { class: 'error', role: 'alert', 'data-testid': 'error' }, message)
}

/** A time as the console shows it: ISO-8601 in UTC, to the millisecond. */
export function time(iso: string | number | undefined): string {
  if (iso === undefined || iso === '') return ''
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString()
}

/** The console's own links: `#/page/a/b?x=1`, each part URL-encoded. */
export function link(parts: readonly string[], query: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') q.set(k, v)
  const qs = q.toString()
  return `#/${parts.map(encodeURIComponent).join('/')}${qs ? `?${qs}` : ''}`
}
