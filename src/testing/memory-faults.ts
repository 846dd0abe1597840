/**
 * MemoryFaults: fault injection for the in-memory producer (memory-ports.ts). A test makes the NEXT
 * init / send / sendOffsets / commit / abort fail, or runs a hook just before it (e.g. lets another task
 * take the partition while this one holds an open transaction).
 */

export type FaultOp = 'init' | 'send' | 'sendOffsets' | 'commit' | 'abort'

export type Fault =
  /** The operation throws `error` without taking effect (send: after appending its records, like a partial produce). */
  | { kind: 'error'; error: unknown }
  /** Commit only: the commit takes effect, then throws (the client never saw the response). */
  | { kind: 'commit-outcome-unknown'; error: unknown }
  /** Runs `hook` just before the operation (which then proceeds normally). */
  | { kind: 'hook'; hook: () => Promise<void> | void }

/** Shared by every producer of a set of ports: the NEXT matching operation (of any producer) takes the fault. */
export class MemoryFaults {
  private readonly pending = new Map<FaultOp, Fault[]>()
  /** How many times each operation ran (attempts, including failed ones). */
  readonly calls: Record<FaultOp, number> = { init: 0, send: 0, sendOffsets: 0, commit: 0, abort: 0 }

  private add(op: FaultOp, f: Fault): this {
    const list = this.pending.get(op) ?? []
    list.push(f)
    this.pending.set(op, list)
    return this
  }

  failNext(op: FaultOp, error: unknown = new Error(`injected ${op} failure`)): this {
    return this.add(op, { kind: 'error', error })
  }
  failNextSend(error?: unknown): this {
    return this.failNext('send', error)
  }
  failNextSendOffsets(error?: unknown): this {
    return this.failNext('sendOffsets', error)
  }
  /** The next commit throws WITHOUT committing (the transaction stays open until the next init aborts it). */
  failNextCommit(error?: unknown): this {
    return this.failNext('commit', error)
  }
  /** The next commit commits, then throws: the caller cannot know it happened. */
  commitOutcomeUnknownNext(
    error: unknown = new Error('injected: request timed out (commit outcome unknown)'),
  ): this {
    return this.add('commit', { kind: 'commit-outcome-unknown', error })
  }
  /** Runs `hook` before the next `op`. */
  beforeNext(op: FaultOp, hook: () => Promise<void> | void): this {
    return this.add(op, { kind: 'hook', hook })
  }

  /** @internal Takes the fault for `op`, if any, and counts the call. */
  take(op: FaultOp): Fault | undefined {
    this.calls[op]++
    const list = this.pending.get(op)
    return list?.shift()
  }

  get pendingCount(): number {
    let n = 0
    for (const l of this.pending.values()) n += l.length
    return n
  }
}

/** @internal Takes the fault for `op`: runs a hook, throws an error, or returns what the caller must apply. */
export async function applyFault(faults: MemoryFaults, op: FaultOp): Promise<Fault | undefined> {
  const f = faults.take(op)
  if (f?.kind === 'hook') {
    await f.hook()
    return undefined
  }
  if (f?.kind === 'error') throw f.error
  return f
}
