/**
 * Two values kept with a snapshot object, out of sight: its msgpack bytes and its decoded dedupe window
 * (snapshot-bytes.ts).
 *
 * They are private class fields stamped onto the object (util/stamp.ts): invisible to `for...in`, `Object.keys`,
 * spreads, JSON and deep equality, not copied by a spread, and read as an ordinary field. A WeakMap did the same, but with a snapshot
 * cached per aggregate (500,000 aggregates in the bench) its ephemeron table cost the worker ~5% of its time in
 * inserts and in every garbage collection. An object that cannot take new fields (frozen, sealed) gets a WeakMap
 * entry instead.
 */
import { Stamped } from '../util/stamp.ts'
import type { RememberedOutcome } from './envelopes.ts'

interface Slots {
  bytes: Uint8Array | undefined
  window: RememberedOutcome[] | undefined
}

/** Objects that could not be stamped. */
const unstamped = new WeakMap<object, Slots>()

class SnapshotSlots extends Stamped {
  #bytes: Uint8Array | undefined
  #window: RememberedOutcome[] | undefined

  private constructor(o: object, bytes: Uint8Array | undefined) {
    super(o)
    this.#bytes = bytes
    this.#window = undefined
  }

  /** Sets `o`'s bytes (undefined: none), and forgets its decoded window. */
  static setBytes(o: object, bytes: Uint8Array | undefined): void {
    if (#bytes in o) {
      o.#bytes = bytes
      o.#window = undefined
    } else if (Object.isExtensible(o)) new SnapshotSlots(o, bytes)
    else unstamped.set(o, { bytes, window: undefined })
  }

  static bytes(o: object): Uint8Array | undefined {
    return #bytes in o ? o.#bytes : unstamped.get(o)?.bytes
  }

  static window(o: object): RememberedOutcome[] | undefined {
    return #window in o ? o.#window : unstamped.get(o)?.window
  }

  /** Keeps `o`'s decoded window (`o` has bytes). */
  static setWindow(o: object, window: RememberedOutcome[]): void {
    if (#window in o) o.#window = window
    else {
      const s = unstamped.get(o)
      if (s !== undefined) s.window = window
    }
  }
}

export const setSnapshotBytes = (o: object, bytes: Uint8Array | undefined): void =>
  SnapshotSlots.setBytes(o, bytes)
/** The msgpack encoding of `o` if this process has it (made by nextSnapshot, read by storedSnapshot). */
export const snapshotBytesOf = (o: object): Uint8Array | undefined => SnapshotSlots.bytes(o)
export const decodedWindowOf = (o: object): RememberedOutcome[] | undefined => SnapshotSlots.window(o)
export const keepDecodedWindow = (o: object, window: RememberedOutcome[]): void =>
  SnapshotSlots.setWindow(o, window)
