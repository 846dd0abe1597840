/** Given/when/then specs of the inventory sample decider (kafka-decider/testing). */
import { describe, it } from 'vitest'
import { given } from '../../src/testing/index.ts'
import inventory from '../../topologies/inventory.ts'

const received = (quantity: number) => ({ type: 'StockReceived' as const, payload: { quantity } })
const reserved = (reservationId: string, quantity: number) => ({
  type: 'StockReserved' as const,
  payload: { reservationId, quantity },
})

describe('inventory spec', () => {
  it('receives stock', () => {
    given(inventory)
      .when({ type: 'ReceiveStock', payload: { quantity: 10 } })
      .then(received(10))
  })

  it('reserves what is available; the last unit also depletes the stock', () => {
    given(inventory, [received(10)])
      .when({ type: 'ReserveStock', payload: { reservationId: 'r1', quantity: 4 } })
      .then([reserved('r1', 4)])
    given(inventory, [received(10), reserved('r1', 4)])
      .when({ type: 'ReserveStock', payload: { reservationId: 'r2', quantity: 6 } })
      .then([reserved('r2', 6), { type: 'StockDepleted', payload: {} }])
  })

  it('refuses more than is available and a reservation id twice', () => {
    given(inventory, [received(3)])
      .when({ type: 'ReserveStock', payload: { reservationId: 'r1', quantity: 4 } })
      .thenRejected('insufficient_stock')
    given(inventory, [received(10), reserved('r1', 1)])
      .when({ type: 'ReserveStock', payload: { reservationId: 'r1', quantity: 1 } })
      .thenRejected('reservation_exists')
  })

  it('cancels a reservation it holds, and only that', () => {
    given(inventory, [received(10), reserved('r1', 4)])
      .when({ type: 'CancelReservation', payload: { reservationId: 'r1' } })
      .then([{ type: 'ReservationCancelled', payload: { reservationId: 'r1', quantity: 4 } }])
    given(inventory, [received(10)])
      .when({ type: 'CancelReservation', payload: { reservationId: 'r9' } })
      .thenRejected('reservation_not_found')
  })
})
