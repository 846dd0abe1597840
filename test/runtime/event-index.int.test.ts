/**
 * The event index against the real broker, with a worker process: after SIGKILLs mid-stream and after a lost state
 * dir, every aggregate's events read from the index (HTTP GET /aggregates/<t>/<id>/events, the EventStoreClient)
 * equal the events topic's events for it (read_committed), byte for byte and at the same offsets. And the
 * sequential read (readAll, /events/<t> pages, subscribe) delivers the events topic in commit order per partition,
 * resumable from a position token.
 */
import { rmSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { EventStoreClient, type LoggedEvent } from '../../src/client/event-store.ts'
import type { EventEnvelope } from '../../src/domain/envelopes.ts'
import { loadTopology, type Topology } from '../../src/topology/loader.ts'
import { newKafka } from '../support/kafka.ts'
import {
  bankWorkload,
  inputCommands,
  readTopic,
  sendCommands,
  spawnWorker,
  tempDir,
  waitForLog,
  waitForReplies,
  writeBankTopology,
  type Rec,
  type WorkerProcess,
} from '../support/eos.ts'

const running: WorkerProcess[] = []
afterEach(async () => {
  for (const w of running.splice(0)) {
    w.kill('SIGKILL')
    await w.exited
  }
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function start(file: string, stateDir: string): Promise<{ w: WorkerProcess; url: string }> {
  const w = spawnWorker(file, stateDir)
  running.push(w)
  await waitForLog(w, /task running/, 6, 90_000)
  const url = /"url":"(http:\/\/[^"]+)"/.exec(w.output())?.[1]
  if (url === undefined) throw new Error(`no http url in the worker log:\n${w.output().slice(-2000)}`)
  return { w, url }
}

/** The committed events topic per aggregate: [offset, event] in offset order. */
function byAggregate(records: Rec[]): Map<string, [string, EventEnvelope][]> {
  const out = new Map<string, [string, EventEnvelope][]>()
  for (const r of records) {
    const e = r.value as EventEnvelope
    out.set(e.aggregateId, [...(out.get(e.aggregateId) ?? []), [r.offset, e]])
  }
  return out
}

/** Every aggregate's events through the worker's index == the events topic's. Returns the events compared. */
async function expectIndexEqualsTopic(url: string, topology: Topology, records: Rec[]): Promise<number> {
  const client = new EventStoreClient({ url })
  let n = 0
  for (const [id, expected] of byAggregate(records)) {
    const got = await client.events(topology, id)
    expect(
      got.map((e) => [e.offset.toString(), e.event]),
      id,
    ).toEqual(expected)
    n += got.length
  }
  return n
}

describe('event index (worker process, real broker)', () => {
  it('equals the events topic per aggregate after SIGKILLs and after a lost state dir; sequential reads', async () => {
    const dir = tempDir('index')
    const file = writeBankTopology(dir, `index-${Date.now()}`)
    const topology = await loadTopology(file)
    const stateDir = `${dir}/state`
    const kafka = newKafka('index-test')
    let { w, url } = await start(file, stateDir)

    const cmds = bankWorkload(13, 60, 3000)
    const sending = sendCommands(kafka, topology.topics.commands, cmds, { chunk: 100, pauseMs: 100 })
    for (const delay of [1500, 1800]) {
      await sleep(delay)
      w.kill('SIGKILL')
      await w.exited
      ;({ w, url } = await start(file, stateDir))
    }
    await sending
    const inputRecords = (await inputCommands(kafka, topology.topics.commands, cmds)).length
    await waitForReplies(kafka, topology.topics.replies, inputRecords, 120_000)
    await sleep(500) // the after-commit store write of the last batch
    const records = await readTopic(kafka, topology.topics.events)
    expect(records.length).toBeGreaterThan(1000)
    expect(await expectIndexEqualsTopic(url, topology, records)).toBe(records.length)

    // An HTTP range and a bad request.
    const some = records[0]!.value as EventEnvelope
    const range = await fetch(
      `${url}/aggregates/${topology.definition.name}/${some.aggregateId}/events?fromVersion=2&toVersion=3`,
    )
    expect(
      ((await range.json()) as { events: { event: EventEnvelope }[] }).events.map((e) => e.event.version),
    ).toEqual([2, 3])
    expect(
      (await fetch(`${url}/aggregates/${topology.definition.name}/x/events?fromVersion=-1`)).status,
    ).toBe(400)
    expect((await fetch(`${url}/events/${topology.definition.name}?from=garbage`)).status).toBe(400)

    // Sequential read, HTTP pages: every event once, in commit order per partition.
    const paged: { partition: number; offset: string }[] = []
    let token: string | undefined
    for (let i = 0; i < 100; i++) {
      const res = await fetch(
        `${url}/events/${topology.definition.name}?limit=700${token ? `&from=${token}` : ''}`,
      )
      const page = (await res.json()) as { events: { partition: number; offset: string }[]; next: string }
      paged.push(...page.events.map((e) => ({ partition: e.partition, offset: e.offset })))
      token = page.next
      if (page.events.length < 700) break
    }
    const key = (e: { partition: number; offset: string }) => `${e.partition}@${e.offset}`
    expect(paged.map(key).sort()).toEqual(records.map(key).sort())

    // Sequential read over Kafka: readAll from the start, then from a token in the middle.
    const reader = new EventStoreClient({ kafka })
    const all: LoggedEvent[] = []
    for await (const e of reader.readAll(topology)) all.push(e)
    expect(all.map((e) => `${e.partition}@${e.offset}`).sort()).toEqual(records.map(key).sort())
    for (let p = 0; p < 6; p++) {
      const offsets = all.filter((e) => e.partition === p).map((e) => e.offset)
      expect(offsets).toEqual([...offsets].sort((a, b) => (a < b ? -1 : 1)))
    }
    const middle = all[Math.floor(all.length / 2)]!
    const rest: LoggedEvent[] = []
    for await (const e of reader.readAll(topology, { from: middle.position })) rest.push(e)
    const delivered = new Set(all.slice(0, all.indexOf(middle) + 1).map((e) => `${e.partition}@${e.offset}`))
    const expectedRest = all.filter((e) => !delivered.has(`${e.partition}@${e.offset}`))
    expect(rest.map((e) => `${e.partition}@${e.offset}`).sort()).toEqual(
      expectedRest.map((e) => `${e.partition}@${e.offset}`).sort(),
    )

    // A subscription: sees everything, stops when told.
    const seen: LoggedEvent[] = []
    const sub = reader.subscribe(topology, (e) => void seen.push(e))
    for (let i = 0; i < 600 && seen.length < records.length; i++) await sleep(100)
    await sub.stop()
    expect(seen.length).toBe(records.length)
    expect(sub.position()).toBe(seen[seen.length - 1]!.position)

    // Lost state dir: stop, wipe, restart: the index comes back from the events topic.
    w.kill('SIGTERM')
    await w.exited
    rmSync(stateDir, { recursive: true, force: true })
    ;({ w, url } = await start(file, stateDir))
    expect(await expectIndexEqualsTopic(url, topology, records)).toBe(records.length)
  }, 400_000)
})
