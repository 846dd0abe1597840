/**
 * A credential read from the environment or a file (a Kafka password). It prints as `***` wherever it ends up by
 * accident: JSON (pino logs, `JSON.stringify` of a config), template strings, `util.inspect` (console.log, vitest
 * diffs). Only `reveal()` hands the value out, to the one place that needs it (the kafkajs client options).
 */
import { inspect } from 'node:util'

export const MASK = '***'

export class Secret {
  readonly #value: string

  /** `source`: where the value came from, for messages (e.g. "the environment variable KAFKA_SASL_PASSWORD"). */
  constructor(
    value: string,
    readonly source: string,
  ) {
    this.#value = value
  }

  reveal(): string {
    return this.#value
  }

  toJSON(): string {
    return MASK
  }

  toString(): string {
    return MASK
  }

  [inspect.custom](): string {
    return `Secret(${MASK}, from ${this.source})`
  }
}
