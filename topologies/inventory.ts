/**
 * Inventory: one aggregate per SKU, with reservations. Differs in shape from bank-account: a command may
 * emit several events (ReserveStock -> StockReserved [+ StockDepleted]; CancelReservation releases one),
 * and the state holds a map of open reservations.
 */
import { z } from 'zod'
import { defineDecider, reject, type CommandOf, type EventOf, type StateOf } from 'kafka-decider'

export interface Stock {
  onHand: number
  reservations: Record<string, number>
}

const qty = z.number().int().positive().max(1_000_000)

// Command, event and state types are inferred from the schemas: in decide, `command.payload` has the type of
// `command.type`'s schema, and returning an event that is not declared (or a wrong payload) does not compile.
const inventory = defineDecider({
  initialState: (): Stock => ({ onHand: 0, reservations: {} }),
  commands: {
    ReceiveStock: z.object({ quantity: qty }),
    ReserveStock: z.object({ reservationId: z.string().min(1).max(100), quantity: qty }),
    CancelReservation: z.object({ reservationId: z.string().min(1).max(100) }),
  },
  events: {
    StockReceived: z.object({ quantity: z.number() }),
    StockReserved: z.object({ reservationId: z.string(), quantity: z.number() }),
    StockDepleted: z.object({}),
    ReservationCancelled: z.object({ reservationId: z.string(), quantity: z.number() }),
  },
  decide(command, state) {
    const available = state.onHand - Object.values(state.reservations).reduce((a, b) => a + b, 0)
    switch (command.type) {
      case 'ReceiveStock':
        return { type: 'StockReceived', payload: { quantity: command.payload.quantity } }
      case 'ReserveStock': {
        const { reservationId, quantity } = command.payload
        if (Object.hasOwn(state.reservations, reservationId)) return reject('reservation_exists', `reservation ${reservationId} already holds stock`)
        if (quantity > available) return reject('insufficient_stock', `only ${available} available, ${quantity} asked`)
        const events = [{ type: 'StockReserved' as const, payload: { reservationId, quantity } }]
        return quantity === available ? [...events, { type: 'StockDepleted' as const, payload: {} }] : events
      }
      case 'CancelReservation': {
        const held = state.reservations[command.payload.reservationId]
        if (held === undefined) return reject('reservation_not_found', `no reservation ${command.payload.reservationId}`)
        return [{ type: 'ReservationCancelled', payload: { reservationId: command.payload.reservationId, quantity: held } }]
      }
    }
  },
  evolve(state, event): Stock {
    switch (event.type) {
      case 'StockReceived':
        return { ...state, onHand: state.onHand + event.payload.quantity }
      case 'StockReserved':
        return { ...state, reservations: { ...state.reservations, [event.payload.reservationId]: event.payload.quantity } }
      case 'StockDepleted':
        return state
      case 'ReservationCancelled': {
        const { [event.payload.reservationId]: _released, ...rest } = state.reservations
        return { ...state, reservations: rest }
      }
    }
  },
})

export default inventory

/** The types a client, a projection or a test can use, inferred from the definition above. */
export type InventoryCommand = CommandOf<typeof inventory>
export type InventoryEvent = EventOf<typeof inventory>
export type InventoryState = StateOf<typeof inventory>
