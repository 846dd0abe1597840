/**
 * A base class whose constructor returns the object it is given: `new (class extends Stamped { #x })(o)` adds the
 * private field `#x` to `o` itself. Private fields so added are invisible to `for...in`, `Object.keys`, spreads, JSON
 * and deep equality, are not copied by a spread, and read like any field; a class checks for its own with `#x in o`.
 * That keeps something with an object at the cost of a field, where a WeakMap or WeakSet entry costs an ephemeron
 * table insert and work in every garbage collection (a few % of a worker holding 500,000 cached snapshots).
 * An object that is not extensible (frozen, sealed) cannot be stamped: callers check Object.isExtensible first.
 */
export class Stamped {
  constructor(o: object) {
    return o
  }
}
