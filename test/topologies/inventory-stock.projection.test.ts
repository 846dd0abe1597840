/** Given/then specs of the inventory-stock sample projection: a key() that returns two keys (kafka-decider/testing). */
import { describe, expect, it } from 'vitest'
import { given, givenEvents } from '../../src/testing/index.ts'
import inventory from '../../topologies/inventory.ts'
import stock, { OUT_OF_STOCK, skuKey, type SkuStock } from '../../topologies/inventory-stock.ts'

const received = (sku: string, quantity: number) => ({
  type: 'StockReceived' as const,
  payload: { quantity },
  aggregateId: sku,
})
const reserved = (sku: string, reservationId: string, quantity: number) => ({
  type: 'StockReserved' as const,
  payload: { reservationId, quantity },
  aggregateId: sku,
})
const depleted = (sku: string) => ({ type: 'StockDepleted' as const, payload: {}, aggregateId: sku })
const cancelled = (sku: string, reservationId: string, quantity: number) => ({
  type: 'ReservationCancelled' as const,
  payload: { reservationId, quantity },
  aggregateId: sku,
})
const levels = (sku: string, onHand: number, reservedQty: number, openReservations: number): SkuStock => ({
  sku,
  onHand,
  reserved: reservedQty,
  available: onHand - reservedQty,
  openReservations,
})

describe('inventory-stock projection', () => {
  it('keeps stock levels per SKU under "sku/<sku>"', () => {
    givenEvents(stock, [
      received('apple', 10),
      reserved('apple', 'r1', 3),
      reserved('apple', 'r2', 2),
      received('pear', 4),
      cancelled('apple', 'r1', 3),
    ])
      .thenView(skuKey('apple'), levels('apple', 10, 2, 1))
      .thenView(skuKey('pear'), levels('pear', 4, 0, 0))
      .thenNoView('apple') // every SKU view is under the prefix: no clash with the list's key
      .thenNoView(OUT_OF_STOCK)
  })

  it('fans out: a reservation that takes the last unit puts the SKU on the out-of-stock list', () => {
    // What inventory decides when a reservation takes everything that is available: two events.
    const events = given(inventory, [{ type: 'StockReceived', payload: { quantity: 5 } }]).when({
      type: 'ReserveStock',
      payload: { reservationId: 'r1', quantity: 5 },
    }).decision
    expect(events).toEqual({
      events: [
        { type: 'StockReserved', payload: { reservationId: 'r1', quantity: 5 } },
        { type: 'StockDepleted', payload: {} },
      ],
    })
    givenEvents(stock, [
      received('apple', 5),
      { ...reserved('apple', 'r1', 5), eventTime: '2024-05-01T10:00:00.000Z' },
      { ...depleted('apple'), eventTime: '2024-05-01T10:00:00.000Z' },
      received('pear', 1),
      reserved('pear', 'p1', 1),
      { ...depleted('pear'), eventTime: '2024-05-02T08:00:00.000Z' },
    ])
      .thenView(skuKey('apple'), levels('apple', 5, 5, 1))
      .thenView(OUT_OF_STOCK, {
        skus: [
          { sku: 'apple', since: '2024-05-01T10:00:00.000Z' },
          { sku: 'pear', since: '2024-05-02T08:00:00.000Z' },
        ],
      })
  })

  it('a receipt or a cancellation of a listed SKU takes it off the list; the last one off deletes the view', () => {
    const sellOut = [received('apple', 2), reserved('apple', 'r1', 2), depleted('apple')]
    const spec = givenEvents(stock, [
      ...sellOut,
      received('pear', 1),
      reserved('pear', 'p1', 1),
      depleted('pear'),
      received('apple', 3), // apple: back in stock (StockReceived -> both views)
    ])
      .thenView(skuKey('apple'), levels('apple', 5, 2, 1))
      .thenView(OUT_OF_STOCK, { skus: [{ sku: 'pear', since: '2024-01-01T00:00:05.000Z' }] })
    expect([...spec.views.keys()].sort()).toEqual([OUT_OF_STOCK, skuKey('apple'), skuKey('pear')])

    givenEvents(stock, [...sellOut, cancelled('apple', 'r1', 2)])
      .thenView(skuKey('apple'), levels('apple', 2, 0, 0))
      .thenNoView(OUT_OF_STOCK) // project returned null: the list's view is deleted
  })

  it('a receipt of a SKU that is not on the list leaves the list unchanged (undefined), as no view at all', () => {
    const spec = givenEvents(stock, [received('apple', 1), cancelled('pear', 'p9', 1)])
    spec.thenNoView(OUT_OF_STOCK)
    // Both events were routed to the list's key too: project saw them and returned undefined.
    expect(spec.events.map((e) => stock.key(e as never))).toEqual([
      [skuKey('apple'), OUT_OF_STOCK],
      [skuKey('pear'), OUT_OF_STOCK],
    ])
  })
})
