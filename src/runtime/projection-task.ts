/**
 * Stage 2 of a projection: one task per repartition partition applies routed events to its views.
 *
 * Per chunk, one transaction: the changed views (null = deleted) and a marker (the repartition offset, the source
 * positions applied, the changelog's generation) to the compacted views changelog, dead letters, and the
 * repartition offset; THEN one LevelDB batch with the views and the same checkpoint. So the store is a prefix of
 * the committed changelog (no wipe after a crash, O(delta) restore, as for deciders) and an event delivered twice
 * (a router that resumed from a stale offset) is recognised by its source position and applied once.
 *
 * Restore replays the changelog from the store's checkpoint. A generation record on the way (`decider rebuild`
 * writes one to every partition) clears what the store held before it; a changelog that ends before the checkpoint
 * (deleted and recreated) makes the store start over from the changelog's beginning.
 */
import { CONTENT_TYPES, decode, encode } from '../domain/codec.ts'
import { isReservedKey, OFFSET_MARKER_KEY } from '../domain/envelopes.ts'
import { PlainDataGuard } from '../domain/plain-data.ts'
import { recordBytes } from './batch-outputs.ts'
import {
  formatPosition,
  GENERATION_KEY,
  isAfter,
  PAST_ALL_KEYS,
  parsePosition,
  PROGRESS_MARKER_KEY,
  sourceId,
  type GenerationRecord,
  type ProgressMarker,
  type RoutedEvent,
  type SourcePosition,
  type ViewsMarker,
} from '../domain/projection-records.ts'
import { applyToView } from '../domain/projection.ts'
import {
  ProjectThrewError,
  RecordTooLargeError,
  SourceEventInvalidError,
  StoreBehindError,
} from '../errors.ts'
import { emptyViewCheckpoint, type ViewCheckpoint, type ViewStore } from '../state/view-store.ts'
import type { ProjectionTopology } from '../topology/projection-loader.ts'
import { writeTransaction } from './commit.ts'
import { PartitionTask, type PartitionTaskOptions } from './partition-task.ts'
import type { ChangelogReader, InputRecord, OutputRecord, TransactionalProducer } from './ports.ts'
import { contentTypeHeader, deadLetterOrStop, headerString } from './projection-io.ts'
import { describeThrown } from './text.ts'
import { HEADERS } from '../domain/envelopes.ts'

export interface ProjectionStats {
  /** Routed events applied (project called and did not fail; it may have left the view unchanged). */
  applied: number
  /** Routed events already applied before (delivered again): skipped. */
  duplicates: number
  deadLettered: number
  /** Views written (changed or deleted). */
  views: number
}

export interface ProjectionTaskOptions extends Omit<PartitionTaskOptions, 'maxBatchRecords' | 'id'> {
  projection: ProjectionTopology
  changelog: ChangelogReader
  openStore(): Promise<ViewStore>
  restoreTimeoutMs?: number
  /**
   * Deletes the repartition partition's records below `offset` (all applied and committed): the topic stays small, as
   * Kafka Streams purges its repartition topics. Called after commits, at most every processing.purgeEvery records.
   */
  purge?(offset: bigint): Promise<void>
  committed?(task: ProjectionTask, stats: ProjectionStats, seconds: number): void
  restored?(task: ProjectionTask, records: number, seconds: number): void
}

export class ProjectionTask extends PartitionTask {
  private store: ViewStore | undefined
  private checkpoint: ViewCheckpoint = emptyViewCheckpoint()
  private readonly cache = new Map<string, unknown>()
  private readonly guard = new PlainDataGuard()
  private readonly cacheSize: number
  /** Resolved by waiters (read-your-writes) after each commit. */
  private readonly waiters = new Set<() => void>()
  /** Changelog records replayed by the last restore. */
  lastRestoreRecords = 0
  private purgedTo = -1n

  constructor(private readonly o: ProjectionTaskOptions) {
    super({
      ...o,
      id: `${o.projection.definition.name}[${o.partition}]`,
      maxBatchRecords: o.projection.definition.processing.maxBatchEvents,
    })
    this.cacheSize = o.projection.definition.processing.viewCacheSize
  }

  protected async openState(): Promise<void> {
    this.cache.clear()
    if (this.store !== undefined) return
    const store = await this.o.openStore()
    if (this.isClosingOrClosed()) {
      await store.close()
      return
    }
    this.store = store
  }

  protected async closeState(): Promise<void> {
    this.cache.clear()
    for (const w of this.waiters) w()
    await this.store?.close()
    this.store = undefined
  }

  protected async restoreState(): Promise<bigint> {
    const started = performance.now()
    const store = this.store!
    let checkpoint = (await store.readCheckpoint()) ?? emptyViewCheckpoint()
    const end = await this.o.changelog.endOffset()
    if (end < checkpoint.changelogOffset) {
      // The changelog is shorter than what the store holds: it was deleted and recreated. Start over from it.
      this.log.warn(
        { storeCheckpoint: checkpoint.changelogOffset, changelogEnd: end },
        'the views changelog ends before the store: restoring the store from the changelog start',
      )
      await store.clear()
      checkpoint = emptyViewCheckpoint()
    }
    const records = await this.replay(store, checkpoint, end)
    this.lastRestoreRecords = records
    this.o.restored?.(this, records, (performance.now() - started) / 1000)
    return this.checkpoint.inputOffset
  }

  /**
   * Replays the changelog from the checkpoint to `end` into the store, chunk by chunk, each with its checkpoint in
   * one write. A generation record (written by `decider rebuild`) clears what came before it: the store then holds
   * only what the rebuilt projection wrote, wherever the old checkpoint was.
   */
  private async replay(store: ViewStore, from: ViewCheckpoint, end: bigint): Promise<number> {
    const ct = CONTENT_TYPES[this.o.projection.definition.serialization]
    let c = from
    let records = 0
    if (end > c.changelogOffset) {
      await this.o.changelog.read(
        c.changelogOffset,
        end,
        async (chunk) => {
          let views = new Map<string, unknown>()
          let next: ViewCheckpoint = { ...c, sources: new Map(c.sources) }
          for (const r of chunk) {
            if (r.key === GENERATION_KEY && r.value !== null) {
              const g = decodeQuietly(r.value, ct) as Partial<GenerationRecord> | undefined
              if (g?.marker !== 'generation' || typeof g.generation !== 'string') continue
              this.log.warn(
                { generation: g.generation },
                'the projection was rebuilt: dropping the views before it',
              )
              await store.clear()
              views = new Map()
              next = { ...emptyViewCheckpoint(), generation: g.generation }
            } else if (r.key !== null && isReservedKey(r.key)) {
              if (r.key !== OFFSET_MARKER_KEY || r.value === null) continue
              const m = readMarker(r.value, ct)
              if (m === undefined) continue
              const input = BigInt(m.inputOffset)
              if (input > next.inputOffset) next.inputOffset = input
              for (const [k, v] of Object.entries(m.sources)) {
                const pos = parsePosition(v)
                if (pos !== undefined && isAfter(pos, next.sources.get(k))) next.sources.set(k, pos)
              }
            } else if (r.key !== null) {
              views.set(r.key, r.value === null ? null : decode(r.value, ct))
            }
          }
          records += chunk.length
          next.changelogOffset = chunk[chunk.length - 1]!.offset + 1n
          await store.write(views, next)
          c = next
        },
        this.o.restoreTimeoutMs ?? 600_000,
      )
    }
    this.checkpoint = c
    return records
  }

  protected async commitChunk(chunk: readonly InputRecord[], producer: TransactionalProducer): Promise<void> {
    const started = performance.now()
    const p = this.o.projection
    const d = p.definition
    const policy = {
      policy: d.errors.onProjectError === 'stop' ? ('stop' as const) : ('dead-letter' as const),
      topic: p.topics.repartition,
      deadLetters: p.topics.deadLetters,
      projection: d.name,
      stage: 'project',
    }
    const sources = new Map(this.checkpoint.sources)
    // Decoded in offset order; markers and events are applied in that same order below (a marker raises a source's
    // position past the events routed before it in the same transaction: applied first, they are not duplicates).
    const items: ({ r: InputRecord; key: string; routed: RoutedEvent } | { progress: ProgressMarker })[] = []
    const out: OutputRecord[] = []
    const stats: ProjectionStats = { applied: 0, duplicates: 0, deadLettered: 0, views: 0 }
    for (const r of chunk) {
      const key = r.key?.toString('utf8')
      if (key === PROGRESS_MARKER_KEY && r.value !== null) {
        const m = decodeQuietly(
          r.value,
          headerString(r.headers?.[HEADERS.contentType]),
        ) as Partial<ProgressMarker>
        if (
          m?.marker === 'progress' &&
          typeof m.topic === 'string' &&
          typeof m.offset === 'string' &&
          /^\d+$/.test(m.offset)
        )
          items.push({ progress: m as ProgressMarker })
        continue
      }
      if (key === undefined || isReservedKey(key)) continue
      try {
        items.push({ r, key, routed: readRouted(r) })
      } catch (e) {
        out.push(deadLetterOrStop(e, r, policy))
        stats.deadLettered++
      }
    }
    const views = await this.load(items.flatMap((x) => ('key' in x ? [x.key] : [])))
    const changed = new Map<string, unknown>()
    const encoded = new Map<string, Buffer>()
    const headers = contentTypeHeader(d.serialization)
    for (const item of items) {
      if ('progress' in item) {
        const m = item.progress
        const pos = { offset: BigInt(m.offset), keyIndex: PAST_ALL_KEYS }
        const id = sourceId(m.topic, Number(m.partition))
        if (isAfter(pos, sources.get(id))) sources.set(id, pos)
        continue
      }
      const { r, key, routed } = item
      const id = sourceId(routed.source.topic, routed.source.partition)
      const pos: SourcePosition = { offset: BigInt(routed.source.offset), keyIndex: routed.keyIndex }
      if (!isAfter(pos, sources.get(id))) {
        stats.duplicates++
        continue
      }
      sources.set(id, pos)
      try {
        const current = views.get(key)
        // The projector sees frozen plain data (the view, the event): a mutation throws instead of changing the
        // cached view behind the store's back (a redone batch would apply it twice).
        const frozen = this.guard.problem(routed.event, 'event')
        if (frozen !== undefined)
          throw new SourceEventInvalidError(`the routed event is not plain data: ${frozen}`)
        if (current !== null && current !== undefined) this.guard.problem(current, 'view')
        stats.applied++
        const next = applyToView(
          p.projection,
          current === null ? undefined : current,
          routed.event as never,
          key,
        )
        if (next === undefined) continue
        if (next !== null) {
          const problem = this.guard.problem(next, 'view')
          if (problem !== undefined)
            throw new ProjectThrewError(`project() returned a view that is not plain data: ${problem}`)
          const bytes = encode(next, d.serialization)
          if (recordBytes({ key, value: bytes, headers }) > d.processing.maxRecordBytes)
            throw new RecordTooLargeError(
              `the view ${JSON.stringify(key.slice(0, 100))} would be ${bytes.length} bytes, above processing.maxRecordBytes (${d.processing.maxRecordBytes}): the event is not applied; keep views small (split them by key)`,
            )
          encoded.set(key, bytes)
        }
        views.set(key, next)
        changed.set(key, next)
      } catch (e) {
        stats.applied--
        const err =
          e instanceof ProjectThrewError ||
          e instanceof RecordTooLargeError ||
          e instanceof SourceEventInvalidError
            ? e
            : new ProjectThrewError(`project() threw: ${describeThrown(e)}`, { cause: e })
        out.push(deadLetterOrStop(err, r, policy))
        stats.deadLettered++
      }
    }
    for (const [key, view] of changed)
      out.push({
        topic: p.topics.changelog,
        partition: this.partition,
        key,
        value: view === null ? null : encoded.get(key)!,
        headers,
      })
    stats.views = changed.size
    const last = chunk[chunk.length - 1]!.offset
    const generation = this.checkpoint.generation ?? ''
    const marker: ViewsMarker = {
      marker: 'input-offset',
      inputOffset: last.toString(),
      sources: Object.fromEntries([...sources].map(([k, v]) => [k, formatPosition(v)])),
      generation,
    }
    const changelogCount = changed.size + 1
    out.push({
      topic: p.topics.changelog,
      partition: this.partition,
      key: OFFSET_MARKER_KEY,
      value: encode(marker, d.serialization),
      headers,
    })
    const [base] = await writeTransaction(producer, out, last + 1n, [
      { topic: p.topics.changelog, partition: this.partition },
    ])
    const checkpoint: ViewCheckpoint = {
      changelogOffset: base === undefined ? this.checkpoint.changelogOffset : base + BigInt(changelogCount),
      inputOffset: last,
      sources,
      generation,
    }
    try {
      await this.store!.write(changed, checkpoint)
    } catch (e) {
      throw new StoreBehindError(
        `committed to Kafka but the view store write failed: ${(e as Error).message}`,
        { cause: e },
      )
    }
    this.checkpoint = checkpoint
    for (const [k, v] of changed) this.remember(k, v)
    for (const w of this.waiters) w()
    this.o.committed?.(this, stats, (performance.now() - started) / 1000)
    const next = last + 1n
    if (
      this.o.purge !== undefined &&
      next - this.purgedTo >= BigInt(this.o.projection.definition.processing.purgeEvery)
    ) {
      this.purgedTo = next
      this.o
        .purge(next)
        .catch((e: unknown) => this.log.debug({ err: e, offset: next }, 'repartition purge failed'))
    }
  }

  /** The views of `keys`: cache, then one getMany; null = no view. */
  private async load(keys: readonly string[]): Promise<Map<string, unknown>> {
    const views = new Map<string, unknown>()
    const missing: string[] = []
    for (const k of new Set(keys)) {
      if (this.cache.has(k)) views.set(k, this.cache.get(k))
      else missing.push(k)
    }
    const loaded = await this.store!.getMany(missing)
    missing.forEach((k, i) => {
      const v = loaded[i] ?? null
      views.set(k, v)
      this.remember(k, v)
    })
    return views
  }

  private remember(key: string, view: unknown): void {
    if (this.cacheSize === 0) return
    this.cache.delete(key)
    this.cache.set(key, view)
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!)
  }

  /** A committed view (undefined: none). */
  async view(key: string): Promise<unknown> {
    if (this.cache.has(key)) return this.cache.get(key) ?? undefined
    if (this.store === undefined) return undefined
    return (await this.store.getMany([key]))[0]
  }

  /** Committed views in key order: `prefix`, after `after`, at most `limit`. */
  async views(range: {
    prefix?: string
    after?: string
    limit: number
  }): Promise<{ key: string; view: unknown }[]> {
    return this.store === undefined ? [] : this.store.range(range)
  }

  /** The last source position applied, per "topic/partition" (committed). */
  sourcePositions(): ReadonlyMap<string, SourcePosition> {
    return this.checkpoint.sources
  }

  /**
   * Resolves true once every event of source `topic`[`partition`] up to `offset` is applied (committed), false
   * after `timeoutMs` or when the task closes first.
   */
  async waitFor(topic: string, partition: number, offset: bigint, timeoutMs: number): Promise<boolean> {
    const reached = () => {
      const pos = this.checkpoint.sources.get(sourceId(topic, partition))
      return (
        pos !== undefined &&
        (pos.offset > offset || (pos.offset === offset && pos.keyIndex === PAST_ALL_KEYS))
      )
    }
    if (reached()) return true
    return new Promise<boolean>((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer)
        this.waiters.delete(check)
        resolve(v)
      }
      const check = () => {
        if (reached()) done(true)
        else if (this.isClosingOrClosed()) done(false)
      }
      const timer = setTimeout(() => done(false), timeoutMs)
      this.waiters.add(check)
    })
  }
}

function decodeQuietly(value: Buffer, contentType: string | undefined): unknown {
  try {
    return decode(value, contentType)
  } catch {
    return undefined
  }
}

function readRouted(r: InputRecord): RoutedEvent {
  if (r.value === null) throw new SourceEventInvalidError('a repartition record without a value')
  const v = decodeQuietly(r.value, headerString(r.headers?.[HEADERS.contentType])) as
    Partial<RoutedEvent> | undefined
  const s = v?.source
  if (
    typeof v !== 'object' ||
    v === null ||
    typeof s?.topic !== 'string' ||
    typeof s.partition !== 'number' ||
    typeof s.offset !== 'string' ||
    !/^\d+$/.test(s.offset) ||
    typeof v.keyIndex !== 'number' ||
    typeof v.event !== 'object'
  )
    throw new SourceEventInvalidError(
      'a repartition record that is not a routed event (not written by a router)',
    )
  return v as RoutedEvent
}

function readMarker(value: Buffer, contentType: string): ViewsMarker | undefined {
  const m = decodeQuietly(value, contentType) as Partial<ViewsMarker> | undefined
  if (m?.marker !== 'input-offset' || typeof m.inputOffset !== 'string' || !/^\d+$/.test(m.inputOffset))
    return undefined
  if (typeof m.generation !== 'string' || typeof m.sources !== 'object' || m.sources === null)
    return undefined
  return m as ViewsMarker
}
