/**
 * Stock levels of the inventory sample, and the list of SKUs that are out of stock: one projection, two kinds
 * of views in one key space.
 *
 *   "sku/<sku>" ...... per SKU: on hand, reserved, available, open reservations (keyed like the aggregate)
 *   "out-of-stock" ... one view: the SKUs whose available stock ran out, since when; no view while none has
 *
 * key() may return several keys: a receipt or a cancelled reservation changes its SKU's levels AND may take the
 * SKU off the out-of-stock list, so it goes to both views (a fan-out); StockDepleted only to the list. The list
 * needs no stock levels: inventory emits StockDepleted exactly when a reservation takes the available stock to 0,
 * and only a receipt or a cancellation (both of a positive quantity) raises it again. A SKU's events reach the
 * list in their order (one source partition per SKU), whatever the other SKUs do.
 *
 * One view for all SKUs is one key, so one task: every receipt and cancellation of every SKU is routed to it too.
 * Fine for a list that changes rarely; a global view of per-event data at high rates would be a hot spot.
 */
import { defineProjection } from 'kafka-decider'
import type { InventoryEvent } from './inventory.ts'

export interface SkuStock {
  sku: string
  onHand: number
  reserved: number
  /** onHand - reserved: what ReserveStock can still take. */
  available: number
  openReservations: number
}

export interface OutOfStock {
  /** By SKU; since: the eventTime of the StockDepleted that put it on the list. */
  skus: { sku: string; since: string }[]
}

export type StockView = SkuStock | OutOfStock

export const OUT_OF_STOCK = 'out-of-stock'
export const skuKey = (sku: string): string => `sku/${sku}`

export default defineProjection<InventoryEvent, StockView>({
  key: (e) => {
    switch (e.type) {
      case 'StockReserved':
        return skuKey(e.aggregateId)
      case 'StockDepleted':
        return OUT_OF_STOCK
      case 'StockReceived':
      case 'ReservationCancelled':
        return [skuKey(e.aggregateId), OUT_OF_STOCK]
    }
  },
  // The key says which kind of view it is; both are frozen: return new ones.
  project: (view, e, key) =>
    key === OUT_OF_STOCK
      ? outOfStock(view as OutOfStock | undefined, e)
      : stock(view as SkuStock | undefined, e),
})

function stock(
  view: SkuStock | undefined,
  e: InventoryEvent & { aggregateId: string },
): SkuStock | undefined {
  const s = view ?? { sku: e.aggregateId, onHand: 0, reserved: 0, available: 0, openReservations: 0 }
  switch (e.type) {
    case 'StockReceived':
      return { ...s, onHand: s.onHand + e.payload.quantity, available: s.available + e.payload.quantity }
    case 'StockReserved':
      return {
        ...s,
        reserved: s.reserved + e.payload.quantity,
        available: s.available - e.payload.quantity,
        openReservations: s.openReservations + 1,
      }
    case 'ReservationCancelled':
      return {
        ...s,
        reserved: s.reserved - e.payload.quantity,
        available: s.available + e.payload.quantity,
        openReservations: s.openReservations - 1,
      }
    default:
      return undefined
  }
}

/** undefined: the list is unchanged; null: it became empty (the view is deleted). */
function outOfStock(
  view: OutOfStock | undefined,
  e: InventoryEvent & { aggregateId: string; eventTime: string },
): OutOfStock | null | undefined {
  const skus = view?.skus ?? []
  const others = skus.filter((s) => s.sku !== e.aggregateId)
  if (e.type === 'StockDepleted')
    return {
      skus: [...others, { sku: e.aggregateId, since: e.eventTime }].sort((a, b) => (a.sku < b.sku ? -1 : 1)),
    }
  if (others.length === skus.length) return undefined // a receipt or cancellation of a SKU not on the list
  return others.length === 0 ? null : { skus: others }
}
