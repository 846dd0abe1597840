/**
 * Snapshot encoding that reuses the previous snapshot's bytes, and snapshots that keep their window in them.
 *
 * A snapshot carries its aggregate's dedupe window (`recent`: the last N outcomes, newest first), and each command
 * writes a new snapshot whose window is the new outcome followed by the previous window minus its oldest entry. With
 * the default window of 32 that window is most of a snapshot's bytes, and packing it again for every command was the
 * largest single cost of a worker under load (bench profiles in docs/BENCHMARKS.md). A msgpack array is its header
 * followed by its elements' bytes, so the new window is written as: header, the new outcome packed, and the previous
 * snapshot's encoded elements copied as they are (`nextSnapshot`).
 *
 * The window's outcomes are written as `outcomes` says (outcome-codec.ts: compact arrays by default, or maps); the
 * previous window's are copied as they were, so one window may hold both. Decoded through withOutcomes, the bytes
 * equal `packr.pack(snapshot)` decoded (the map's keys in another order: `recent` last);
 * test/domain/snapshot-bytes.test.ts checks that on random chains of snapshots. The previous snapshot's bytes are known
 * when this process made it or read it from its store (`storedSnapshot`), and a new aggregate has none; otherwise the
 * snapshot is packed whole.
 */
import { encode, storeCodec, type Serialization } from './codec.ts'
import type { RememberedOutcome, SnapshotRecord } from './envelopes.ts'
import { Reader } from './msgpack-reader.ts'
import { compactOutcome, outcomesOf, type OutcomeEncoding } from './outcome-codec.ts'
import { decodedWindowOf, keepDecodedWindow, setSnapshotBytes, snapshotBytesOf } from './snapshot-slots.ts'

/**
 * Snapshots whose window stays in their bytes. Decoded, a full window is 32 outcome objects with their strings and
 * arrays per aggregate: with the snapshot cache full, most of a worker's heap, and V8's major collections of it (a few
 * hundred ms of both cores every few seconds on a 2-core machine) were the latency tail under light load. Kept as
 * bytes, the window is decoded only when read: a command id found in the bytes (a possible duplicate), a
 * snapshot's JSON, a test. The decoded window is kept with the snapshot once read.
 */
function readWindow(this: SnapshotRecord): RememberedOutcome[] {
  let recent = decodedWindowOf(this)
  if (recent === undefined) {
    const bytes = snapshotBytesOf(this)
    const at = bytes === undefined ? undefined : locateWindow(bytes)
    if (bytes === undefined || at === undefined) throw new Error('snapshot window bytes missing or malformed')
    const r = new Reader(bytes)
    r.pos = at.start
    if (!r.skip(at.length)) throw new Error('snapshot window bytes malformed')
    recent = outcomesOf(storeCodec.decode(bytes.subarray(at.header, r.pos)) as unknown[])
    keepDecodedWindow(this, recent)
  }
  return recent
}

function writeWindow(this: SnapshotRecord, recent: RememberedOutcome[]): void {
  // Assigned: a plain property again, and the bytes no longer describe the record.
  Object.defineProperty(this, 'recent', {
    value: recent,
    writable: true,
    enumerable: true,
    configurable: true,
  })
  setSnapshotBytes(this, undefined)
}

/**
 * The `recent` of a snapshot whose window is in its bytes: one accessor pair shared by all of them. Defined on a
 * record after its data fields, it gives every such record one shape (fast properties). An object literal with
 * `get recent()` made two closures per record and put the record in dictionary mode: ~570 bytes of heap per cached
 * snapshot more, and the garbage collector's time with it.
 */
const WINDOW_ACCESSOR: PropertyDescriptor = {
  get: readWindow,
  set: writeWindow,
  enumerable: true,
  configurable: true,
}

/** `s` with its `recent` read from `bytes` (its msgpack encoding) when needed. */
function windowInBytes(s: SnapshotRecord, bytes: Uint8Array): SnapshotRecord {
  Object.defineProperty(s, 'recent', WINDOW_ACCESSOR)
  setSnapshotBytes(s, bytes)
  return s
}

/** A new record of `f`'s fields whose `recent` is read from `bytes` (`recent` last among its keys). */
function bytesBacked(
  f: Omit<SnapshotRecord, 'recent'> & { stateVersion: number },
  bytes: Uint8Array,
): SnapshotRecord {
  const s = {
    aggregateId: f.aggregateId,
    version: f.version,
    state: f.state,
    sourceOffset: f.sourceOffset,
    stateVersion: f.stateVersion,
  } as SnapshotRecord
  Object.defineProperty(s, 'recent', WINDOW_ACCESSOR)
  setSnapshotBytes(s, bytes)
  return s
}

/** The fields this version writes. */
const SNAPSHOT_KEYS = new Set(['aggregateId', 'version', 'state', 'recent', 'sourceOffset', 'stateVersion'])

/** Whether `s` has exactly those fields, in any order (then bytesBacked copies all of them). */
function standard(
  s: object,
  without?: 'recent',
): s is Omit<SnapshotRecord, 'recent'> & { stateVersion: number } {
  if (typeof (s as SnapshotRecord).stateVersion !== 'number') return false
  let n = 0
  for (const k in s) {
    if (k === without || !SNAPSHOT_KEYS.has(k)) return false
    n++
  }
  return n === SNAPSHOT_KEYS.size - (without === undefined ? 0 : 1)
}

/**
 * A snapshot read from the store (msgpack `bytes`). Its decoded window is dropped at once (young garbage): the record
 * may stay in the snapshot cache, and the next snapshot is made from the bytes.
 */
export function storedSnapshot(bytes: Uint8Array): SnapshotRecord {
  const s = storeCodec.decode(bytes) as SnapshotRecord
  if (locateWindow(bytes) !== undefined) return standard(s) ? bytesBacked(s, bytes) : windowInBytes(s, bytes)
  setSnapshotBytes(s, bytes) // no window in the bytes (not a snapshot this version writes): kept as decoded
  return s
}

/** The snapshot after a command, and its changelog bytes: `outcome` first in the window, then `previous`'s. */
export function nextSnapshot(
  base: Omit<SnapshotRecord, 'recent'>,
  outcome: RememberedOutcome,
  previous: SnapshotRecord | undefined,
  window: number,
  serialization: Serialization,
  outcomes: OutcomeEncoding = 'compact',
): { snapshot: SnapshotRecord; bytes: Buffer } {
  if (serialization === 'msgpack' && window > 0) {
    // A new aggregate's window is the outcome alone; otherwise the previous bytes give the rest.
    const prevBytes = previous === undefined ? EMPTY : snapshotBytesOf(previous)
    const bytes =
      prevBytes === undefined ? undefined : spliced(base, outcome, prevBytes, window - 1, outcomes)
    if (bytes !== undefined) {
      const snapshot = standard(base, 'recent')
        ? bytesBacked(base, bytes)
        : windowInBytes(base as SnapshotRecord, bytes)
      return { snapshot, bytes }
    }
  }
  let recent: RememberedOutcome[] = []
  if (window > 0) {
    recent = [outcome]
    const before = previous?.recent ?? []
    for (let i = 0; i < before.length && recent.length < window; i++) recent.push(before[i]!)
  }
  const s = base as SnapshotRecord
  s.recent = recent
  const bytes = encodeWhole(s, serialization, outcomes)
  return { snapshot: serialization === 'msgpack' ? windowInBytes(s, bytes) : s, bytes }
}

/** No previous snapshot: nothing to keep. */
const EMPTY = new Uint8Array(0)

/**
 * `base` (no `recent`) with the window `outcome` + at most `keep` outcomes of the window in `prevBytes` (none when
 * `prevBytes` is empty); undefined when `prevBytes` has no readable window.
 */
function spliced(
  base: Omit<SnapshotRecord, 'recent'>,
  outcome: RememberedOutcome,
  prevBytes: Uint8Array,
  keep: number,
  outcomes: OutcomeEncoding,
): Buffer | undefined {
  const region = prevBytes.length === 0 ? { start: 0, end: 0, count: 0 } : windowRegion(prevBytes, keep)
  if (region === undefined) return undefined
  let fields = 0
  for (const k in base) if (k !== 'recent') fields++
  const head = storeCodec.encode(base)
  const headStart = mapHeaderLength(head, fields)
  if (headStart === undefined) return undefined
  const packed = storeCodec.encode(outcomes === 'compact' ? compactOutcome(outcome) : outcome)
  return assemble(fields, head.subarray(headStart), packed, region.count + 1, prevBytes, region)
}

/** map16 header, the head's entries, `recent`, the array header, the new outcome, the kept outcomes' bytes. */
function assemble(
  fields: number,
  headEntries: Uint8Array,
  outcome: Uint8Array,
  length: number,
  prevBytes: Uint8Array,
  region: { start: number; end: number },
): Buffer {
  const arrayHeader = arrayHeaderBytes(length)
  const kept = region.end - region.start
  // Memory of its own (see owned()): this buffer is kept with the snapshot.
  const out = Buffer.allocUnsafeSlow(
    3 + headEntries.length + RECENT_KEY.length + arrayHeader.length + outcome.length + kept,
  )
  let at = 0
  out[at++] = 0xde // map16, as msgpackr writes objects
  at = out.writeUInt16BE(fields + 1, at)
  out.set(headEntries, at)
  at += headEntries.length
  at += RECENT_KEY.copy(out, at)
  at += arrayHeader.copy(out, at)
  out.set(outcome, at)
  at += outcome.length
  out.set(prevBytes.subarray(region.start, region.end), at)
  return out
}

const RECENT_KEY = Buffer.from([0xa6, ...Buffer.from('recent')])

/** `s` packed whole for the changelog (and, with msgpack, the store; nextSnapshot keeps the bytes with `s`). */
function encodeWhole(s: SnapshotRecord, serialization: Serialization, outcomes: OutcomeEncoding): Buffer {
  if (serialization !== 'msgpack') return encode(s, serialization)
  return owned(storeCodec.encode(outcomes === 'compact' ? withCompactWindow(s) : s))
}

/** A copy of `s` (its keys in their order) whose window holds compact outcomes. */
function withCompactWindow(s: SnapshotRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const k in s) {
    out[k] = k === 'recent' ? s.recent.map(compactOutcome) : (s as unknown as Record<string, unknown>)[k]
  }
  return out
}

/**
 * A copy of `b` in memory of its own. msgpackr returns views into a shared buffer it packs many values into (events,
 * replies), and Buffer.allocUnsafe views into Node's shared 8 KiB pool: kept (with the snapshot, in the cache), such
 * a view would keep all of that memory alive.
 */
function owned(b: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(b.length)
  b.copy(copy)
  return copy
}

/** The length of the map header at the start of `b` if it is a map of `count` entries. */
function mapHeaderLength(b: Uint8Array, count: number): number | undefined {
  const t = b[0]!
  if (t >= 0x80 && t <= 0x8f) return (t & 0x0f) === count ? 1 : undefined
  if (t === 0xde) return ((b[1]! << 8) | b[2]!) === count ? 3 : undefined
  return undefined
}

function arrayHeaderBytes(n: number): Buffer {
  if (n < 16) return Buffer.from([0x90 | n])
  if (n < 0x10000) return Buffer.from([0xdc, n >> 8, n & 0xff])
  const b = Buffer.allocUnsafe(5)
  b[0] = 0xdd
  b.writeUInt32BE(n, 1)
  return b
}

/**
 * Where the first `atMost` elements (fewer when the array is shorter: `count`) of the top-level map's `recent` array
 * are in `b`; undefined when `b` is not a map with such an array (or is malformed).
 */
export function windowRegion(
  b: Uint8Array,
  atMost: number,
): { start: number; end: number; count: number } | undefined {
  const at = locateWindow(b)
  if (at === undefined) return undefined
  const count = Math.min(at.length, atMost)
  const r = new Reader(b)
  r.pos = at.start
  return r.skip(count) ? { start: at.start, end: r.pos, count } : undefined
}

/**
 * The top-level map's `recent` array in `b`: where its header starts, where its elements start, how many there are;
 * undefined when `b` is not a map with such an array (or is malformed).
 */
function locateWindow(b: Uint8Array): { header: number; start: number; length: number } | undefined {
  const r = new Reader(b)
  const entries = r.mapHeader()
  if (entries === undefined) return undefined
  for (let e = 0; e < entries; e++) {
    const isRecent = r.isKey(RECENT_KEY)
    if (!r.skip(1)) return undefined // the key
    if (!isRecent) {
      if (!r.skip(1)) return undefined
      continue
    }
    const header = r.pos
    const length = r.arrayHeader()
    if (length === undefined) return undefined
    return { header, start: r.pos, length }
  }
  return undefined
}
