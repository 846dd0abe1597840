import { describe, expect, it } from 'vitest'
import { fold, type CommandOf, type EventOf } from '../../src/index.ts'
import { decideAfter } from '../../src/testing/decide.ts'
import inventory from '../../topologies/inventory.ts'

type Cmd = CommandOf<typeof inventory>
type Evt = EventOf<typeof inventory>

function decide(history: Evt[], command: Cmd): { events?: Evt[]; rejected?: string } {
  const { decision } = decideAfter(inventory, history, command, { aggregateId: 'sku-1', commandId: 'c' })
  return 'rejected' in decision ? { rejected: decision.rejected } : decision
}

const received = (quantity: number): Evt => ({ type: 'StockReceived', payload: { quantity } })
const reserved = (reservationId: string, quantity: number): Evt => ({
  type: 'StockReserved',
  payload: { reservationId, quantity },
})

describe('inventory decider', () => {
  it('ReceiveStock -> StockReceived (a single event, not an array)', () => {
    expect(decide([], { type: 'ReceiveStock', payload: { quantity: 10 } })).toEqual({
      events: [received(10)],
    })
  })

  it('ReserveStock of part of the stock -> StockReserved only', () => {
    expect(
      decide([received(10)], { type: 'ReserveStock', payload: { reservationId: 'r1', quantity: 4 } }),
    ).toEqual({
      events: [reserved('r1', 4)],
    })
  })

  it('ReserveStock of exactly what is available -> StockReserved + StockDepleted (several events per command)', () => {
    expect(
      decide([received(10), reserved('r1', 4)], {
        type: 'ReserveStock',
        payload: { reservationId: 'r2', quantity: 6 },
      }),
    ).toEqual({
      events: [reserved('r2', 6), { type: 'StockDepleted', payload: {} }],
    })
  })

  it('ReserveStock beyond what is available -> insufficient_stock', () => {
    expect(
      decide([received(10), reserved('r1', 4)], {
        type: 'ReserveStock',
        payload: { reservationId: 'r2', quantity: 7 },
      }),
    ).toEqual({
      rejected: 'insufficient_stock',
    })
  })

  it('ReserveStock with a taken reservationId -> reservation_exists', () => {
    expect(
      decide([received(10), reserved('r1', 4)], {
        type: 'ReserveStock',
        payload: { reservationId: 'r1', quantity: 1 },
      }),
    ).toEqual({
      rejected: 'reservation_exists',
    })
  })

  it('CancelReservation of an unknown reservation -> reservation_not_found', () => {
    expect(decide([received(10)], { type: 'CancelReservation', payload: { reservationId: 'nope' } })).toEqual(
      { rejected: 'reservation_not_found' },
    )
  })

  it('CancelReservation releases the held quantity, so it can be reserved again', () => {
    const history = [received(10), reserved('r1', 10), { type: 'StockDepleted', payload: {} } as Evt]
    expect(decide(history, { type: 'ReserveStock', payload: { reservationId: 'r2', quantity: 1 } })).toEqual({
      rejected: 'insufficient_stock',
    })
    const cancel = decide(history, { type: 'CancelReservation', payload: { reservationId: 'r1' } })
    expect(cancel).toEqual({
      events: [{ type: 'ReservationCancelled', payload: { reservationId: 'r1', quantity: 10 } }],
    })
    const after = [...history, ...(cancel.events ?? [])]
    expect(fold(inventory, after)).toEqual({ onHand: 10, reservations: {} })
    expect(
      decide(after, { type: 'ReserveStock', payload: { reservationId: 'r2', quantity: 10 } }).events?.map(
        (e) => e.type,
      ),
    ).toEqual(['StockReserved', 'StockDepleted'])
  })

  it('evolve: StockDepleted changes nothing, reservations are tracked by id', () => {
    const s = fold(inventory, [
      received(5),
      reserved('a', 2),
      reserved('b', 3),
      { type: 'StockDepleted', payload: {} },
    ])
    expect(s).toEqual({ onHand: 5, reservations: { a: 2, b: 3 } })
  })
})
