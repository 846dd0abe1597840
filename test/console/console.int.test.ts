/**
 * The web console in a real browser (Debian's chromium, driven by playwright-core) against two real workers on
 * the test broker, every value on the page compared with what the HTTP API (the event store) answers:
 * - the overview shows every partition with the owner that answers its reads, across both workers, RUNNING;
 * - an aggregate's timeline (versions, types, times, payloads, the correction linked to the event it corrects)
 *   and its state at a version and as of a business time match the event store, and the diff of two versions;
 * - a misrouted command's dead letter is listed with its reason and command, replayed from the page and answered
 *   (accepted, its event in the store, the replay recorded in the worker's log with who did it);
 * - a command sent from the form is accepted with its events, a rejected one shows its reason;
 * - a read-only token cannot replay or send (the buttons are off, and the worker refuses: nothing is written);
 * - each page renders within 1 s, and the overview fits a 390 px wide screen without sideways scrolling.
 * With DECIDER_CONSOLE_SCREENSHOTS=1 it also writes docs/console-*.png (the README's pictures).
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildConsole } from '../../scripts/build-console.ts'
import { CONTENT_TYPES, encode } from '../../src/domain/codec.ts'
import { partitionOf } from '../../src/kafka/partitioner.ts'
import { KafkaDeadLetters } from '../../src/kafka/dead-letter-reader.ts'
import { spawnWorker, tempDir, waitForLog, writeBankTopology, type WorkerProcess } from '../support/eos.ts'
import { newKafka, uniqueName } from '../support/kafka.ts'
import { ROOT, runCli } from '../cli/run-cli.ts'
import { chromiumPath } from './chromium.ts'

const name = uniqueName('console')
const dir = tempDir('console')
const file = writeBankTopology(dir, name)
// The sample's read model over this topology: the Read models page.
const projectionName = `${name}-summary`
const projectionFile = path.join(dir, 'summary.yaml')
writeFileSync(
  projectionFile,
  [
    'kind: projection',
    `name: ${projectionName}`,
    `projection: ${path.join(ROOT, 'topologies/bank-account-summary.ts')}`,
    'sources:',
    `  - topology: ./${path.basename(file)}`,
    'partitions: 2',
    '',
  ].join('\n'),
)
const WRITE_TOKEN = 'console-test-write-token-0123456789'
const READ_TOKEN = 'console-test-read-token-0123456789'
const TOKENS = `ops:read+write:${WRITE_TOKEN},viewer:read:${READ_TOKEN}`
const SCREENSHOTS = process.env.DECIDER_CONSOLE_SCREENSHOTS === '1'
/**
 * A page renders within 1 s (the budget). In CI's load variant (DECIDER_TEST_CPU_BURN: every core kept busy
 * by other processes) the browser gets a fraction of a core: there the bound is 3 s, still far below a page that
 * would read the whole store.
 */
const RENDER_BUDGET_MS = Number(process.env.DECIDER_TEST_CPU_BURN ?? 0) > 0 ? 3000 : 1000
const workers: WorkerProcess[] = []
const urls: string[] = []
let browser: Browser

interface Answer {
  status: number
  body: Record<string, any>
}

async function call(
  base: string,
  p: string,
  init: RequestInit = {},
  tokenValue = WRITE_TOKEN,
): Promise<Answer> {
  const res = await fetch(`${base}${p}`, {
    ...init,
    headers: {
      authorization: `Bearer ${tokenValue}`,
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    signal: AbortSignal.timeout(30_000),
  })
  return { status: res.status, body: (await res.json()) as Record<string, any> }
}

/** Asks until `ok` holds (bounded); returns the last answer. */
async function until<T>(ask: () => Promise<T>, ok: (t: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const t = await ask()
    if (ok(t) || Date.now() > deadline) return t
    await new Promise((r) => setTimeout(r, 500))
  }
}

const command = (base: string, body: unknown, tokenValue = WRITE_TOKEN) =>
  call(base, `/commands/${name}`, { method: 'POST', body: JSON.stringify(body) }, tokenValue)

/** A CreateAccount for `id` written to a partition its key does not hash to: the worker dead-letters it (misrouted). */
async function sendMisrouted(id: string, commandId: string, owner: string): Promise<void> {
  const producer = newKafka('console-test-producer').producer()
  await producer.connect()
  try {
    await producer.send({
      topic: `${name}.commands`,
      messages: [
        {
          key: id,
          value: encode(
            {
              commandId,
              type: 'CreateAccount',
              payload: { owner },
              metadata: { issuedAt: new Date().toISOString() },
            },
            'msgpack',
          ),
          partition: (partitionOf(id, 6) + 1) % 6,
          headers: { 'content-type': CONTENT_TYPES.msgpack },
        },
      ],
    })
  } finally {
    await producer.disconnect()
  }
}

function urlOf(w: WorkerProcess): string {
  const url = /"advertisedUrl":"(http:\/\/[^"]+)"/.exec(w.output())?.[1]
  if (url === undefined) throw new Error(`no advertisedUrl in the worker's log:\n${w.output().slice(-2000)}`)
  return url
}

/** A page of the console with a token entered in its token field (as a user does). */
async function open(context: BrowserContext, base: string, hash: string, tokenValue: string): Promise<Page> {
  const page = await context.newPage()
  page.setDefaultTimeout(30_000)
  await page.goto(`${base}/console/`)
  await page.fill('#token', tokenValue)
  await page.click('#token-form button')
  await page.waitForSelector('[data-testid=permissions]')
  await page.goto(`${base}/console/${hash}`)
  return page
}

/** Milliseconds from navigation to `selector` being shown. */
async function renderMs(page: Page, hash: string, selector: string): Promise<number> {
  const started = Date.now()
  // The old page's content goes first, so that only the new render can show `selector`.
  await page.evaluate((h) => {
    document.getElementById('main')!.replaceChildren()
    location.hash = h
  }, hash)
  await page.waitForSelector(selector)
  return Date.now() - started
}

async function shot(page: Page, file: string): Promise<void> {
  if (SCREENSHOTS) await page.screenshot({ path: path.join(ROOT, 'docs', file), fullPage: true })
}

beforeAll(async () => {
  await buildConsole({ quiet: true })
  const env = { DECIDER_LOG_FORMAT: 'json', DECIDER_HTTP_TOKENS: TOKENS }
  workers.push(spawnWorker([file, projectionFile], path.join(dir, 'state-a'), env))
  await waitForLog(workers[0]!, /"msg":"worker ready/, 1, 60_000)
  workers.push(spawnWorker([file, projectionFile], path.join(dir, 'state-b'), env))
  await waitForLog(workers[1]!, /"msg":"worker ready/, 1, 60_000)
  urls.push(urlOf(workers[0]!), urlOf(workers[1]!))
  browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] })
}, 150_000)

afterAll(async () => {
  await browser?.close()
  for (const w of workers) w.kill('SIGKILL')
  await Promise.all(workers.map((w) => w.exited))
})

describe('the web console on two workers', () => {
  it('overview: every partition with the owner that answers its reads, across both workers, RUNNING', async () => {
    const [a, b] = urls as [string, string]
    // Settled: both workers own partitions and every task runs (the second worker's join moved some).
    const cluster = await until(
      () => call(a, '/cluster'),
      (c) =>
        c.status === 200 &&
        c.body.groups[0].partitions.every((p: any) => p.state === 'RUNNING') &&
        new Set(c.body.groups[0].partitions.map((p: any) => p.owner)).size === 2,
      90_000,
    )
    expect(cluster.status).toBe(200)
    // The owner of each partition, independently: the worker that answers a read of an id of that partition.
    const expected: string[] = []
    for (let p = 0; p < 6; p++) {
      let id = ''
      for (let i = 0; id === '' && i < 1000; i++) if (partitionOf(`probe-${i}`, 6) === p) id = `probe-${i}`
      const r = await until(
        () => call(b, `/aggregates/${name}/${id}/events`),
        (x) => x.status === 200,
      )
      expect(r.status).toBe(200)
      expected.push(String(r.body.answeredBy))
    }
    expect(new Set(expected)).toEqual(new Set([a, b]))

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    const page = await open(context, a, '#/', WRITE_TOKEN)
    const table = `[data-testid="partitions-${name}"]`
    await page.waitForSelector(`${table} tbody tr`)
    // The page polls: wait (bounded) until it shows what the reads say, then compare row by row.
    const shown = async () =>
      page.$$eval(`${table} tbody tr`, (rows) =>
        rows.map((r) => ({
          partition: r.getAttribute('data-partition'),
          owner: r.querySelector('[data-testid=owner]')?.textContent,
          state: r.querySelector('[data-testid=state]')?.textContent,
        })),
      )
    const rows = await until(
      shown,
      (r) => r.every((x, i) => x.owner === expected[i] && x.state === 'RUNNING'),
      30_000,
    )
    expect(rows).toEqual(expected.map((owner, i) => ({ partition: String(i), owner, state: 'RUNNING' })))
    const workerRows = await page.$$eval('[data-testid=workers] tbody tr', (r) =>
      r.map((x) => [
        x.getAttribute('data-worker'),
        x.textContent?.includes('not ready') ? 'not ready' : 'ready',
      ]),
    )
    expect(workerRows).toEqual([a, b].sort().map((u) => [u, 'ready']))

    // Narrow screen: the overview reflows, no sideways scrolling of the page.
    await page.setViewportSize({ width: 390, height: 844 })
    await page.waitForTimeout(100)
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    expect(overflow).toBeLessThanOrEqual(0)
    await shot(page, 'console-overview-narrow.png')

    // Keyboard: the first Tab reaches the skip link, Enter moves the focus to the page's content.
    await page.setViewportSize({ width: 1280, height: 900 })
    await page.reload()
    await page.waitForSelector(`${table} tbody tr`)
    await page.keyboard.press('Tab')
    expect(await page.evaluate(() => document.activeElement?.className)).toBe('skip')
    await page.keyboard.press('Enter')
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main')
    await context.close()
  })

  it('aggregate: the timeline, the state at a version and as of a business time, and a diff match the event store', async () => {
    const [a, b] = urls as [string, string]
    const id = 'acct-timeline'
    const at = (iso: string) => ({ issuedAt: iso })
    const sent = [
      await command(a, {
        aggregateId: id,
        type: 'CreateAccount',
        payload: { owner: 'Ada' },
        metadata: at('2026-01-01T09:00:00.000Z'),
      }),
      await command(b, {
        aggregateId: id,
        type: 'Deposit',
        payload: { amount: 100 },
        metadata: at('2026-01-10T09:00:00.000Z'),
      }),
      await command(a, {
        aggregateId: id,
        type: 'Deposit',
        payload: { amount: 50 },
        metadata: at('2026-02-10T09:00:00.000Z'),
      }),
      await command(b, {
        aggregateId: id,
        type: 'CorrectDeposit',
        payload: { eventId: `${id}@2`, difference: 10, reason: 'typo in the amount' },
        metadata: at('2026-03-01T09:00:00.000Z'),
      }),
    ]
    expect(sent.map((s) => s.body.status)).toEqual(['accepted', 'accepted', 'accepted', 'accepted'])
    const store = await call(a, `/aggregates/${name}/${id}/events`)
    expect(store.status).toBe(200)
    const events = store.body.events.map((e: any) => e.event)
    expect(events.map((e: any) => e.version)).toEqual([1, 2, 3, 4])

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    const page = await open(context, b, `#/aggregate/${name}/${id}`, READ_TOKEN)
    await page.waitForSelector('[data-testid=timeline] li')
    const timeline = await page.$$eval('[data-testid=timeline] li', (items) =>
      items.map((li) => ({
        version: li.querySelector('[data-testid=ev-version]')?.textContent,
        type: li.querySelector('[data-testid=ev-type]')?.textContent,
        eventTime: li.querySelector('[data-testid=ev-eventTime]')?.textContent,
        recordedAt: li.querySelector('[data-testid=ev-recordedAt]')?.textContent,
        payload: JSON.parse(li.querySelector('[data-testid=ev-payload]')?.textContent ?? 'null'),
        corrects: li.querySelector('[data-testid=ev-corrects]')?.textContent ?? null,
        correctedBy: li.querySelector('[data-testid=ev-corrected-by]')?.textContent ?? null,
      })),
    )
    expect(timeline.map((t) => ({ ...t, corrects: undefined, correctedBy: undefined }))).toEqual(
      events.map((e: any) => ({
        version: `v${e.version}`,
        type: e.type,
        eventTime: new Date(e.eventTime).toISOString(),
        recordedAt: new Date(e.recordedAt).toISOString(),
        payload: e.payload,
        corrects: undefined,
        correctedBy: undefined,
      })),
    )
    expect(timeline[3]!.corrects).toContain(`${id}@2`)
    expect(timeline[3]!.corrects).toContain('typo in the amount')
    expect(timeline[1]!.correctedBy).toContain(`${id}@4`)
    expect(timeline.map((t) => t.eventTime)).toEqual([
      '2026-01-01T09:00:00.000Z',
      '2026-01-10T09:00:00.000Z',
      '2026-02-10T09:00:00.000Z',
      '2026-03-01T09:00:00.000Z',
    ])
    // The correction's link moves the focus to the event it corrects.
    await page.click('[data-testid=timeline] li[data-version="4"] [data-testid=ev-corrects] button')
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('ev-2')
    await shot(page, 'console-aggregate.png')

    const stateShown = async () => ({
      version: await page.textContent('[data-testid=state-version]'),
      state: JSON.parse((await page.textContent('[data-testid=state-json]')) ?? 'null'),
    })
    const stateApi = async (q: string) => {
      const r = await call(a, `/aggregates/${name}/${id}/state?${q}`)
      expect(r.status).toBe(200)
      return { version: String(r.body.version), state: r.body.state }
    }
    // Latest: the snapshot.
    expect(await stateShown()).toEqual(await stateApi(''))
    expect((await stateShown()).state).toEqual({ status: 'open', owner: 'Ada', balance: 160 })
    // At version 2, from the form.
    await page.fill('#st-version', '2')
    await page.click('form[aria-label="State at a version or time"] button')
    await page.waitForFunction(
      () => document.querySelector('[data-testid=state-version]')?.textContent === '2',
    )
    expect(await stateShown()).toEqual(await stateApi('version=2'))
    expect((await stateShown()).state.balance).toBe(100)
    // As of 31 January, business time: the deposit of 10 January with its correction (recorded in March).
    await page.fill('#st-version', '')
    await page.fill('#st-event', '2026-01-31T00:00:00Z')
    await page.click('form[aria-label="State at a version or time"] button')
    await page.waitForFunction(
      () => document.querySelector('[data-testid=state-version]')?.textContent === '4',
    )
    expect(await stateShown()).toEqual(await stateApi('eventTimeAsOf=2026-01-31T00:00:00Z'))
    expect((await stateShown()).state.balance).toBe(110)
    // The difference between versions 1 and 3.
    await page.fill('#diff-a', '1')
    await page.fill('#diff-b', '3')
    await page.click('form[aria-label="Difference between two versions"] button')
    // The new comparison's table (the page showed v3 to v4 before): its headers name v1 and v3.
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll('[data-testid=diff] th')].map((t) => t.textContent).join(',') ===
        'Path,v1,v3',
    )
    const row = await page.$$eval('[data-testid=diff] tbody tr', (rows) =>
      rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)),
    )
    expect(row).toEqual([['$.balance', '0', '150']])
    await context.close()
  })

  it('dead letters: a misrouted command is listed, inspected, replayed from the page and answered', async () => {
    const [a, b] = urls as [string, string]
    const id = 'acct-misrouted'
    const right = partitionOf(id, 6)
    await sendMisrouted(id, 'misrouted-1', 'Grace')
    const listed = await until(
      () => call(a, `/dead-letters/${name}`),
      (r) => r.status === 200 && r.body.deadLetters.some((d: any) => d.aggregateId === id),
    )
    const dead = listed.body.deadLetters.find((d: any) => d.aggregateId === id)
    expect(dead).toMatchObject({
      reason: 'misrouted',
      command: { type: 'CreateAccount', payload: { owner: 'Grace' } },
    })
    expect((await call(a, `/aggregates/${name}/${id}/events`)).body.events).toEqual([])

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    const page = await open(context, b, `#/dlq/${name}`, WRITE_TOKEN)
    const row = `[data-testid=dlq-table] tr[data-dlq="${dead.partition}:${dead.offset}"]`
    await page.waitForSelector(row)
    expect(await page.textContent(`${row} [data-testid=dlq-reason]`)).toBe('misrouted')
    expect(await page.textContent(row)).toContain(id)
    await shot(page, 'console-dead-letters.png')
    await page.click(`${row} a`)
    await page.waitForSelector('[data-testid=dlq-detail]')
    expect(JSON.parse((await page.textContent('[data-testid=dlq-payload]')) ?? 'null')).toEqual({
      owner: 'Grace',
    })
    await page.click('[data-testid=replay-one]')
    await page.waitForSelector('[data-testid=replay-reply]')
    expect(await page.textContent('[data-testid=replay-reply]')).toBe('accepted')
    // Answered: the account exists now, on the partition its id belongs to; the replay is in the log, with who.
    const events = await until(
      () => call(a, `/aggregates/${name}/${id}/events`),
      (r) => r.status === 200 && r.body.events.length === 1,
    )
    expect(events.body.partition).toBe(right)
    expect(events.body.events[0].event).toMatchObject({
      type: 'AccountCreated',
      version: 1,
      payload: { owner: 'Grace' },
    })
    const log = [...workers.map((w) => w.output())].join('\n')
    const line = log
      .split('\n')
      .find((l) => l.includes('"msg":"dead letter replayed"') && l.includes(`:${dead.offset}"`))
    expect(line).toBeDefined()
    expect(line).toContain('"by":"token ops"')
    expect(line).not.toContain('Grace') // never the payload
    await context.close()
  })

  it('send: a command from the form is accepted with its events; a rejected one shows its reason', async () => {
    const [a, b] = urls as [string, string]
    const id = 'acct-form'
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    const page = await open(context, a, `#/send/${name}?type=CreateAccount`, WRITE_TOKEN)
    await page.waitForSelector('[data-testid=send-form]')
    await page.fill('#send-id', id)
    await page.fill('#f-owner', 'Linus')
    await page.click('[data-testid=send-form] button[type=submit]')
    await page.waitForSelector('[data-testid=reply-status]')
    expect(await page.textContent('[data-testid=reply-status]')).toBe('accepted')
    expect(await page.textContent('[data-testid=reply-events]')).toBe('v1 AccountCreated')
    await shot(page, 'console-send.png')

    await page.evaluate((h) => (location.hash = h), `#/send/${name}?type=Withdraw`)
    await page.waitForSelector('#f-amount')
    await page.fill('#send-id', id)
    await page.fill('#f-amount', '500')
    await page.click('[data-testid=send-form] button[type=submit]')
    await page.waitForSelector('[data-testid=reply-status]')
    expect(await page.textContent('[data-testid=reply-status]')).toBe('rejected')
    expect(await page.textContent('[data-testid=reply-error]')).toBe(
      'insufficient_funds: balance 0 is less than 500',
    )
    const store = await call(b, `/aggregates/${name}/${id}/events`)
    expect(store.body.events.map((e: any) => [e.event.version, e.event.type, e.event.payload])).toEqual([
      [1, 'AccountCreated', { owner: 'Linus' }],
    ])
    await context.close()
  })

  it("read models: the projection's partitions and lag, a view by key and a range of views match the API", async () => {
    const [a, b] = urls as [string, string]
    const view = await until(
      () => call(a, `/views/${projectionName}/acct-timeline`),
      (r) => r.status === 200 && r.body.view.corrections === 1,
    )
    expect(view.body.view).toMatchObject({ owner: 'Ada', balance: 160, transactions: 2, corrections: 1 })
    const range = await call(a, `/views/${projectionName}?prefix=acct-&limit=50`)
    expect(range.status).toBe(200)
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    const page = await open(context, b, `#/views/${projectionName}?key=acct-timeline`, READ_TOKEN)
    await page.waitForSelector('[data-testid=view-json]')
    expect(JSON.parse((await page.textContent('[data-testid=view-json]')) ?? 'null')).toEqual(view.body.view)
    const row = await page.$$eval('[data-testid=projections] tbody tr', (rows) =>
      rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)),
    )
    expect(row).toEqual([[projectionName, `${name}.events`, '2', '2/2', expect.stringMatching(/^\d+$/)]])
    await shot(page, 'console-read-models.png')
    await page.evaluate((h) => (location.hash = h), `#/views/${projectionName}?prefix=acct-&list=1`)
    await page.waitForSelector('[data-testid=views-table]')
    const listed = await page.$$eval('[data-testid=views-table] tbody tr', (rows) =>
      rows.map((r) => [
        r.querySelector('td')?.textContent,
        JSON.parse(r.querySelector('code')?.textContent ?? 'null'),
      ]),
    )
    expect(listed).toEqual(range.body.views.map((v: any) => [v.key, v.view]))
    expect(listed.map(([k]) => k)).toEqual(
      expect.arrayContaining(['acct-timeline', 'acct-form', 'acct-misrouted']),
    )
    // The overview has the projection too, every partition with an owner.
    await page.evaluate(() => (location.hash = '#/'))
    await page.waitForSelector(`[data-testid="partitions-${projectionName}"] tbody tr`)
    const owners = await page.$$eval(
      `[data-testid="partitions-${projectionName}"] [data-testid=owner]`,
      (c) => c.map((x) => x.textContent),
    )
    expect(owners.every((o) => o === a || o === b)).toBe(true)
    expect(owners).toHaveLength(2)
    await context.close()
  })

  it('decider dlq list | show | replay through a worker, recorded like the console; a read-only token may list only', async () => {
    const [a, b] = urls as [string, string]
    const id = 'acct-cli-replay'
    await sendMisrouted(id, 'misrouted-cli', 'Barbara')
    const listed = await until(
      () => call(b, `/dead-letters/${name}`),
      (r) => r.status === 200 && r.body.deadLetters.some((d: any) => d.aggregateId === id),
    )
    const dead = listed.body.deadLetters.find((d: any) => d.aggregateId === id)
    const at = `${dead.partition}:${dead.offset}`
    const env = { DECIDER_TOKEN: READ_TOKEN }
    const list = await runCli(['dlq', 'list', file, '--url', a], env)
    expect(list.code, list.stderr).toBe(0)
    const row = list.stdout.split('\n').find((l) => l.startsWith(`${at}  `))
    expect(row).toBeDefined()
    expect(row!.split('  ').slice(2, 5)).toEqual(['misrouted', id, 'CreateAccount'])
    const show = await runCli(['dlq', 'show', name, at, '--url', b], env)
    expect(show.code, show.stderr).toBe(0)
    expect(JSON.parse(show.stdout)).toMatchObject({
      reason: 'misrouted',
      aggregateId: id,
      command: { payload: { owner: 'Barbara' } },
    })
    const refused = await runCli(['dlq', 'replay', name, at, '--url', a], env)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('lacks the write permission')
    expect((await call(a, `/aggregates/${name}/${id}/events`)).body.events).toEqual([])
    const replay = await runCli(['dlq', 'replay', name, at, '--url', a, '--token', WRITE_TOKEN], {}, 60_000)
    expect(replay.code, replay.stdout + replay.stderr).toBe(0)
    expect(replay.stdout).toMatch(
      new RegExp(`^${at} replayed to ${name}\\.commands:${partitionOf(id, 6)}:\\d+: accepted$`, 'm'),
    )
    expect(replay.stderr).toContain('replayed by token ops')
    // Recorded on the command itself: where it came from and who replayed it.
    const sentTo = new RegExp(`replayed to ${name}\\.commands:(\\d+):(\\d+)`).exec(replay.stdout)!
    const reader = new KafkaDeadLetters(newKafka('console-test-reader'))
    try {
      const command = await reader.one(`${name}.commands`, Number(sentTo[1]), BigInt(sentTo[2]!), 10_000)
      expect(command).toMatchObject({
        key: Buffer.from(id),
        headers: { 'decider-replay-of': `${name}.dlq:${at}`, 'decider-replayed-by': 'token ops' },
      })
    } finally {
      await reader.close()
    }
    const events = await call(b, `/aggregates/${name}/${id}/events`)
    expect(events.body.events.map((e: any) => [e.event.type, e.event.payload])).toEqual([
      ['AccountCreated', { owner: 'Barbara' }],
    ])
    const bad = await runCli(['dlq', 'show', name, 'nope', '--url', a], env)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('<partition>:<offset>')
    const consoleUrl = await runCli(['console', '--url', a, '--no-open'])
    expect([consoleUrl.code, consoleUrl.stdout.trim()]).toEqual([0, `${a}/console/`])
  })

  it('a read-only token can neither replay nor send: the buttons are off and the worker refuses', async () => {
    const [a] = urls as [string]
    const listed = await call(a, `/dead-letters/${name}`, {}, READ_TOKEN)
    expect(listed.status).toBe(200)
    const dead = listed.body.deadLetters[0]
    expect(dead).toBeDefined()
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    const page = await open(context, a, `#/dlq/${name}/${dead.partition}/${dead.offset}`, READ_TOKEN)
    await page.waitForSelector('[data-testid=dlq-detail]')
    expect(await page.textContent('[data-testid=permissions]')).toBe('may read')
    expect(await page.isDisabled('[data-testid=replay-one]')).toBe(true)
    // Asked anyway, from the page with its token: 403.
    const replay = await page.evaluate(
      async ([topology, partition, offset, t]) => {
        const r = await fetch(`/dead-letters/${topology}/replay`, {
          method: 'POST',
          headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' },
          body: JSON.stringify({ records: [{ partition: Number(partition), offset }] }),
        })
        return r.status
      },
      [name, String(dead.partition), dead.offset, READ_TOKEN] as const,
    )
    expect(replay).toBe(403)

    const id = 'acct-read-only'
    await page.evaluate((h) => (location.hash = h), `#/send/${name}?type=CreateAccount`)
    await page.waitForSelector('[data-testid=no-write]')
    await page.fill('#send-id', id)
    await page.fill('#f-owner', 'Nobody')
    await page.click('[data-testid=send-form] button[type=submit]')
    await page.waitForSelector('[data-testid=reply-status]')
    expect(await page.textContent('[data-testid=reply-status]')).toBe('forbidden')
    expect(await page.textContent('[data-testid=reply-error]')).toContain('lacks the write permission')
    expect((await call(a, `/aggregates/${name}/${id}/events`)).body.events).toEqual([])
    // Every page within 1 s.
    for (const [hash, selector] of [
      ['#/', `[data-testid="partitions-${name}"] tbody tr`],
      [`#/dlq/${name}`, '[data-testid=dlq-table]'],
      [`#/send/${name}`, '[data-testid=send-form]'],
      [`#/aggregate/${name}/acct-timeline`, '[data-testid=state-json]'],
    ] as const)
      expect(await renderMs(page, hash, selector), hash).toBeLessThan(RENDER_BUDGET_MS)
    await context.close()
    if (SCREENSHOTS) {
      // The overview after the commands above: its counters are not all 0 any more.
      const overview = await open(
        await browser.newContext({ viewport: { width: 1280, height: 800 } }),
        a,
        '#/',
        WRITE_TOKEN,
      )
      await overview.waitForSelector(`[data-testid="partitions-${name}"] tbody tr`)
      await overview.waitForTimeout(2500) // a second poll: the rates
      await shot(overview, 'console-overview.png')
    }
  })
})
