/**
 * EventStoreClient.readAll() and subscribe() over a scripted events topic (readEventLog replaced): without a decider
 * the events are handed out as stored; with one (or a loaded topology) each is upcast to its type's current schema
 * version and typed by the decider's events (v2 decider over v1 events); an event the decider cannot read ends the
 * read (readAll throws; subscribe's done rejects, its position stays before the event).
 */
import { describe, expect, expectTypeOf, it, vi } from 'vitest'
import { EventStoreClient, type LoggedEvent } from '../../src/client/event-store.ts'
import type { EventEnvelope } from '../../src/domain/envelopes.ts'
import { EventVersionUnknownError } from '../../src/errors.ts'
import type { KafkaConnection } from '../../src/kafka/client.ts'
import type { EventLogReadOptions } from '../../src/kafka/event-log.ts'
import { fromDecider } from '../../src/topology/loader.ts'
import bankV2 from '../fixtures/bank-account-v2.ts'

/** The batches the scripted topic delivers, in order; a following read then waits for its signal. */
const topic = vi.hoisted(() => ({ batches: [] as unknown[][] }))

vi.mock('../../src/kafka/event-log.ts', () => ({
  readEventLog: async (_kafka: unknown, o: EventLogReadOptions): Promise<string> => {
    let last = o.from ?? ''
    for (const batch of topic.batches) {
      if (o.signal?.aborted) break
      await o.onEvents(batch as LoggedEvent[])
      last = (batch.at(-1) as LoggedEvent | undefined)?.position ?? last
    }
    if (o.follow && !o.signal?.aborted)
      await new Promise<void>((r) => o.signal?.addEventListener('abort', () => r(), { once: true }))
    return last
  },
}))

let offset = 0n
function logged(version: number, type: string, payload: unknown, extra: Partial<EventEnvelope> = {}) {
  const event: EventEnvelope = {
    eventId: `acc-1@${version}`,
    type,
    aggregateId: 'acc-1',
    version,
    payload,
    commandId: `c${version}`,
    correlationId: `c${version}`,
    causationId: `c${version}`,
    eventTime: '2024-03-01T00:00:00.000Z',
    recordedAt: '2024-03-01T00:00:01.000Z',
    schemaVersion: 1,
    ...extra,
  }
  offset++
  return { partition: 0, offset, event, position: `pos-${offset}` } satisfies LoggedEvent
}

// As the v1 decider wrote them, then one the v2 decider wrote (already current).
const v1 = [
  logged(1, 'AccountCreated', { owner: 'Ada' }),
  logged(2, 'MoneyDeposited', { amount: 100, balance: 100 }),
  logged(
    3,
    'DepositCorrected',
    { difference: -10, balance: 90 },
    {
      corrects: ['acc-1@2'],
      correctionReason: 'the slip says 90',
    },
  ),
]
const v2Written = logged(
  4,
  'MoneyDeposited',
  { amount: 5, balance: 95, currency: 'USD' },
  { schemaVersion: 2 },
)
const fromTheFuture = logged(5, 'MoneyDeposited', { amount: 1 }, { schemaVersion: 3 })

const client = new EventStoreClient({ kafka: {} as KafkaConnection })

describe('EventStoreClient.readAll / subscribe: upcasting with a decider', () => {
  it('without a decider: every event as stored (payload unknown)', async () => {
    topic.batches = [v1.slice(0, 2), [v1[2]!, v2Written]]
    const seen: LoggedEvent[] = []
    for await (const e of client.readAll('bank')) {
      expectTypeOf(e.event.payload).toEqualTypeOf<unknown>()
      seen.push(e)
    }
    expect(seen).toEqual([...v1, v2Written])
    expect(seen[1]!.event).toBe(v1[1]!.event)
  })

  it('with the v2 decider: v1 events upcast and typed; current ones untouched; the envelope kept', async () => {
    topic.batches = [v1.slice(0, 2), [v1[2]!, v2Written]]
    const currencies: string[] = []
    const seen = []
    for await (const e of client.readAll('bank', { decider: bankV2 })) {
      if (e.event.type === 'MoneyDeposited') {
        expectTypeOf(e.event.payload).toEqualTypeOf<{ amount: number; balance: number; currency: string }>()
        currencies.push(e.event.payload.currency)
      }
      expectTypeOf(e.event.correctionReason).toEqualTypeOf<string | undefined>()
      seen.push(e)
    }
    expect(currencies).toEqual(['EUR', 'USD'])
    expect(seen[1]).toEqual({
      ...v1[1],
      event: { ...v1[1]!.event, schemaVersion: 2, payload: { amount: 100, balance: 100, currency: 'EUR' } },
    })
    expect(seen[0]!.event).toBe(v1[0]!.event) // AccountCreated is at its current version: as it is
    expect(seen[2]!.event).toMatchObject({ corrects: ['acc-1@2'], correctionReason: 'the slip says 90' })
    expect(seen[3]!.event).toBe(v2Written.event)
    expect(seen.map((e) => e.position)).toEqual([...v1, v2Written].map((e) => e.position))
  })

  it('a loaded topology gives its decider; an event it cannot read ends the read', async () => {
    const topology = fromDecider(bankV2, { name: 'bank' })
    topic.batches = [v1, [fromTheFuture]]
    const seen: unknown[] = []
    const read = async () => {
      for await (const e of client.readAll(topology, { decider: topology })) seen.push(e.event.payload)
    }
    await expect(read()).rejects.toThrow(EventVersionUnknownError)
    expect(seen).toEqual([
      { owner: 'Ada' },
      { amount: 100, balance: 100, currency: 'EUR' },
      { difference: -10, balance: 90 },
    ])
  })

  it('subscribe with a decider: the handler gets upcast, typed events; one it cannot read stops it before', async () => {
    topic.batches = [v1, [v2Written]]
    const deposits: number[] = []
    const sub = client.subscribe(
      'bank',
      (e) => {
        if (e.event.type === 'MoneyDeposited') {
          expectTypeOf(e.event.payload.currency).toEqualTypeOf<string>()
          deposits.push(e.event.payload.amount)
          expect(e.event.payload.currency).toMatch(/^(EUR|USD)$/)
        }
      },
      { decider: bankV2 },
    )
    await vi.waitFor(() => expect(sub.position()).toBe(v2Written.position))
    await sub.stop()
    expect(deposits).toEqual([100, 5])

    topic.batches = [v1, [fromTheFuture, v2Written]]
    const handled: string[] = []
    const failing = client.subscribe('bank', (e) => void handled.push(e.event.eventId), {
      decider: bankV2,
    })
    await expect(failing.done).rejects.toThrow(EventVersionUnknownError)
    expect(handled).toEqual(['acc-1@1', 'acc-1@2', 'acc-1@3'])
    expect(failing.position()).toBe(v1[2]!.position)

    // Without a decider the same topic is handed out as stored.
    const stored: unknown[] = []
    const plain = client.subscribe('bank', (e) => {
      expectTypeOf(e.event.payload).toEqualTypeOf<unknown>()
      stored.push(e.event)
    })
    await vi.waitFor(() => expect(stored).toHaveLength(5))
    await plain.stop()
    expect(stored).toEqual([...v1, fromTheFuture, v2Written].map((e) => e.event))
  })
})
