/**
 * Send a command (write permission): a form built from the command type's payload schema (the JSON Schema of
 * the decider's zod schema, GET /topologies), sent to POST /commands/<topology>; the reply is shown as it came:
 * accepted with its events, or the typed rejection / refusal. Route: #/send/<topology>?type=&id=
 */
import type { PageContext, Route } from './app.ts'
import { api, errorBox, h, jsonBlock, link, mount } from './dom.ts'

interface JsonSchema {
  type?: string | string[]
  properties?: Record<string, JsonSchema>
  required?: string[]
  enum?: unknown[]
  const?: unknown
  description?: string
  minimum?: number
  maximum?: number
  format?: string
}

interface Field {
  name: string
  read(): { ok: true; value: unknown } | { ok: false; error: string } | undefined
  el: HTMLElement
}

export function sendPage(route: Route, ctx: PageContext): void {
  const topologies = ctx.catalog.topologies
  const name = route.parts[0] ?? topologies[0]?.name ?? ''
  const topology = topologies.find((t) => t.name === name)
  mount(ctx.main, h('h1', {}, 'Send a command'))
  if (!ctx.catalog.permissions.write)
    ctx.main.append(
      h(
        'p',
        { class: 'warn', 'data-testid': 'no-write' },
        'Your token lacks the write permission: the worker will refuse to take the command (403).',
      ),
    )
  if (!ctx.catalog.commands)
    ctx.main.append(
      h('p', { class: 'warn' }, 'This worker takes no commands over HTTP (http.commands is false).'),
    )
  if (topology === undefined) return void ctx.main.append(errorBox(`No topology ${name} on this worker.`))
  const types = Object.keys(topology.commands)
  const type = route.query.get('type') ?? types[0] ?? ''
  const schema = (topology.commands[type] ?? {}) as JsonSchema

  const pick = h(
    'form',
    { class: 'row', 'aria-label': 'Command type' },
    h('label', { for: 'send-topology' }, 'Topology'),
    h(
      'select',
      {
        id: 'send-topology',
        onchange: (e: Event) => (location.hash = link(['send', (e.target as HTMLSelectElement).value])),
      },
      topologies.map((t) =>
        h('option', { value: t.name, ...(t.name === name ? { selected: true } : {}) }, t.name),
      ),
    ),
    h('label', { for: 'send-type' }, 'Command'),
    h(
      'select',
      {
        id: 'send-type',
        onchange: (e: Event) =>
          (location.hash = link(['send', name], { type: (e.target as HTMLSelectElement).value })),
      },
      types.map((t) => h('option', { value: t, ...(t === type ? { selected: true } : {}) }, t)),
    ),
  )
  const aggregateId = h('input', {
    id: 'send-id',
    name: 'aggregateId',
    required: true,
    value: route.query.get('id') ?? '',
  })
  const commandId = h('input', {
    id: 'send-command-id',
    name: 'commandId',
    placeholder: 'generated when empty',
  })
  const expected = h('input', { id: 'send-expected', name: 'expectedVersion', type: 'number', min: 0 })
  const fields = payloadFields(schema)
  const result = h('div', { 'data-testid': 'reply', 'aria-live': 'polite' })
  const form = h(
    'form',
    { class: 'grid', 'data-testid': 'send-form', 'aria-label': `Send ${type}` },
    h('label', { for: 'send-id' }, 'Aggregate id'),
    aggregateId,
    ...fields.flatMap((f) => [f.el]),
    h('label', { for: 'send-command-id' }, 'Command id'),
    commandId,
    h('label', { for: 'send-expected' }, 'Expected version'),
    expected,
    h('button', { type: 'submit' }, `Send ${type}`),
  )
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const fieldsOf: Record<string, unknown> = {}
    for (const f of fields) {
      const v = f.read()
      if (v === undefined) continue
      if (!v.ok) return mount(result, errorBox(`${f.name}: ${v.error}`))
      fieldsOf[f.name] = v.value
    }
    // A schema that is not an object is one JSON field: the payload itself.
    const payload = isObjectSchema(schema) ? fieldsOf : (fieldsOf.payload ?? {})
    const body = {
      aggregateId: aggregateId.value,
      type,
      payload,
      ...(commandId.value.trim() !== '' ? { commandId: commandId.value.trim() } : {}),
      ...(expected.value !== '' ? { expectedVersion: Number(expected.value) } : {}),
    }
    mount(result, h('p', { class: 'muted' }, 'Sending…'))
    api<Record<string, unknown>>(`/commands/${encodeURIComponent(name)}`, {
      method: 'POST',
      body,
      timeoutMs: 30_000,
    })
      .then((a) => mount(result, ...reply(a.status, a.body, name, body.aggregateId)))
      .catch((err: unknown) => mount(result, errorBox((err as Error).message)))
  })
  ctx.main.append(pick, form, h('h2', {}, 'Reply'), result)
  aggregateId.focus()
}

function reply(status: number, body: Record<string, unknown>, topology: string, id: string): HTMLElement[] {
  const s = typeof body.status === 'string' ? body.status : undefined
  const error = body.error as { code?: string; message?: string } | string | undefined
  const events = Array.isArray(body.events) ? (body.events as [string, number][]) : []
  const out: (HTMLElement | null)[] = [
    h(
      'p',
      {},
      'HTTP ',
      String(status),
      ': ',
      h(
        'strong',
        { class: s === 'accepted' || s === 'duplicate' ? 'ok' : 'bad', 'data-testid': 'reply-status' },
        s ?? String(body.code ?? 'refused'),
      ),
      typeof body.version === 'number' ? ` at version ${body.version}` : '',
    ),
    events.length > 0
      ? h(
          'ul',
          { 'data-testid': 'reply-events' },
          events.map(([t, v]) => h('li', {}, `v${v} ${t}`)),
        )
      : null,
    error !== undefined
      ? h(
          'p',
          { class: 'bad', 'data-testid': 'reply-error' },
          typeof error === 'string' ? error : `${error.code ?? ''}: ${error.message ?? ''}`,
        )
      : null,
    s === 'accepted' ? h('p', {}, h('a', { href: link(['aggregate', topology, id]) }, `Show ${id}`)) : null,
    h('details', {}, h('summary', {}, 'Whole answer'), jsonBlock(body)),
  ]
  return out.filter((x): x is HTMLElement => x !== null)
}

/** One input per property of an object schema; anything else is one JSON field. */
function isObjectSchema(schema: JsonSchema): boolean {
  return schema.type === 'object' || schema.properties !== undefined
}

function payloadFields(schema: JsonSchema): Field[] {
  if (!isObjectSchema(schema)) return [jsonField('payload', schema, true)]
  const props = schema.properties ?? {}
  const required = new Set(schema.required ?? [])
  return Object.entries(props).map(([name, s]) => field(name, s, required.has(name)))
}

function field(name: string, s: JsonSchema, required: boolean): Field {
  const id = `f-${name}`
  const label = h('label', { for: id }, name, required ? ' *' : '')
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type
  const wrap = (input: HTMLElement) => h('div', { class: 'field' }, label, input)
  if (Array.isArray(s.enum)) {
    const select = h(
      'select',
      { id, name },
      required ? null : h('option', { value: '' }, '(none)'),
      s.enum.map((v) => h('option', { value: JSON.stringify(v) }, String(v))),
    )
    return {
      name,
      el: wrap(select),
      read: () =>
        select.value === '' ? undefined : { ok: true, value: JSON.parse(select.value) as unknown },
    }
  }
  if (type === 'string' || type === 'number' || type === 'integer') {
    const input = h('input', {
      id,
      name,
      type: type === 'string' ? 'text' : 'number',
      ...(type === 'integer' ? { step: 1 } : { step: 'any' }),
      ...(s.minimum !== undefined ? { min: s.minimum } : {}),
      ...(s.maximum !== undefined ? { max: s.maximum } : {}),
      ...(required ? { required: true } : {}),
    })
    return {
      name,
      el: wrap(input),
      read: () => {
        if (input.value === '') return required && type === 'string' ? { ok: true, value: '' } : undefined
        if (type === 'string') return { ok: true, value: input.value }
        const n = Number(input.value)
        return Number.isFinite(n) ? { ok: true, value: n } : { ok: false, error: 'not a number' }
      },
    }
  }
  if (type === 'boolean') {
    const input = h('input', { id, name, type: 'checkbox' })
    return { name, el: wrap(input), read: () => ({ ok: true, value: input.checked }) }
  }
  return jsonField(name, s, required)
}

function jsonField(name: string, _s: JsonSchema, required: boolean): Field {
  const id = `f-${name}`
  const area = h('textarea', { id, name, rows: 4, placeholder: 'JSON' })
  return {
    name,
    el: h('div', { class: 'field' }, h('label', { for: id }, name, required ? ' * (JSON)' : ' (JSON)'), area),
    read: () => {
      if (area.value.trim() === '') return undefined
      try {
        return { ok: true, value: JSON.parse(area.value) as unknown }
      } catch (e) {
        return { ok: false, error: `not JSON: ${(e as Error).message}` }
      }
    },
  }
}
