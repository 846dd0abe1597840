/** The malformed records the verifier sends among the commands; check (e) finds each in the dead-letter topic. */
import { Packr } from 'msgpackr'

const packr = new Packr({ useRecords: false })

export interface Malformed {
  key: string | Buffer | null
  value: Buffer | null
  headers?: Record<string, string>
  /** A partition the record must go to (a misrouted command); else its key's. */
  partition?: number
  reason: string
  marker: string
}

/** Malformed records that carry a unique marker so each can be found in the dead-letter topic. */
export function malformedRecord(i: number, seed: number): Malformed {
  const marker = `bad-${seed}-${i}`
  switch (i % 4) {
    case 0:
      return {
        key: marker,
        value: Buffer.concat([Buffer.from([0xc1]), Buffer.from(marker)]),
        reason: 'undecodable',
        marker,
      }
    case 1:
      return {
        key: marker,
        value: packr.pack({ commandId: marker, type: 'Teleport', payload: {} }),
        reason: 'unknown_type',
        marker,
      }
    case 2:
      return {
        key: marker,
        value: packr.pack({ commandId: marker, type: 'Deposit', payload: { amount: 'x'.repeat(10_000) } }),
        reason: 'invalid_payload',
        marker,
      }
    default:
      return {
        key: null,
        value: packr.pack({ commandId: marker, type: 'Deposit', payload: { amount: 1 } }),
        reason: 'missing_key',
        marker,
      }
  }
}
