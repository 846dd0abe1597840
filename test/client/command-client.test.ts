/** The CommandClient over a CommandTransport double: envelopes, reply matching, timeouts, options. */
import { describe, expect, it } from 'vitest'
import {
  CommandClient,
  type CommandRecord,
  type CommandTransport,
  type ReplyRecord,
  type SentRecord,
} from '../../src/client/command-client.ts'
import { CONTENT_TYPES, decode, encode } from '../../src/domain/codec.ts'
import { HEADERS, type CommandEnvelope, type ReplyEnvelope } from '../../src/domain/envelopes.ts'
import { ReplyTimeoutError, UsageError } from '../../src/errors.ts'

/**
 * Records what is sent, as one partition's log (the position of a record is its index in `sent`), and resolves
 * sends with those positions (or, with `hold`, only when `release()` is called); `reply()` delivers replies as
 * the Kafka transport does once they committed.
 */
class FakeTransport implements CommandTransport {
  readonly sent: CommandRecord[] = []
  listens = 0
  closed = false
  /** When set, sends are written at once but resolve only at release(). */
  hold = false
  private held: (() => void)[] = []
  private onReplies: ((records: ReplyRecord[]) => void) | undefined

  async send(records: CommandRecord[]): Promise<SentRecord[]> {
    const first = this.sent.length
    this.sent.push(...records)
    if (this.hold) await new Promise<void>((r) => this.held.push(r))
    return records.map((_, i) => ({ partition: 0, offset: String(first + i) }))
  }

  release(): void {
    for (const r of this.held.splice(0)) r()
  }

  async listenForReplies(onReplies: (records: ReplyRecord[]) => void): Promise<void> {
    this.listens++
    this.onReplies = onReplies
  }

  reply(records: ReplyRecord[]): void {
    this.onReplies?.(records)
  }

  async close(): Promise<void> {
    this.closed = true
  }
}

const topics = { commandsTopic: 'c', repliesTopic: 'r' }

/** A reply record; with `source`, naming the command record it answers as the worker does (partition 0). */
function replyRecord(
  reply: Partial<ReplyEnvelope> & { commandId: string; aggregateId: string },
  serialization: 'json' | 'msgpack',
  source?: number,
): ReplyRecord {
  const full = { status: 'accepted', version: 1, events: [], ...reply }
  return {
    value: encode(full, serialization),
    headers: {
      [HEADERS.contentType]: CONTENT_TYPES[serialization],
      ...(source === undefined
        ? {}
        : { [HEADERS.sourcePartition]: '0', [HEADERS.sourceOffset]: String(source) }),
    },
  }
}

const tick = () => new Promise((r) => setImmediate(r))

describe('CommandClient', () => {
  it('send writes one envelope keyed by the aggregate id, in the configured serialization', async () => {
    const transport = new FakeTransport()
    const client = new CommandClient({ transport, ...topics, serialization: 'json' })
    const id = await client.send({
      aggregateId: 'acc-1',
      type: 'Deposit',
      payload: { amount: 5 },
      expectedVersion: 2,
    })
    expect(transport.sent).toHaveLength(1)
    const [record] = transport.sent
    expect(record!.key).toBe('acc-1')
    expect(record!.headers).toEqual({ [HEADERS.contentType]: CONTENT_TYPES.json })
    const envelope = decode(record!.value!, CONTENT_TYPES.json) as CommandEnvelope
    expect(envelope).toMatchObject({
      commandId: id,
      type: 'Deposit',
      payload: { amount: 5 },
      expectedVersion: 2,
    })
    expect(typeof envelope.metadata?.issuedAt).toBe('string')
  })

  it('sendAndWait resolves with the reply of its command only, listening once', async () => {
    const transport = new FakeTransport()
    const client = new CommandClient({ transport, ...topics })
    const a = client.sendAndWait({ aggregateId: 'x', type: 'T', payload: {}, commandId: 'cmd-a' })
    const b = client.sendAndWait({ aggregateId: 'y', type: 'T', payload: {}, commandId: 'cmd-b' })
    await new Promise((r) => setImmediate(r))
    expect(transport.listens).toBe(1)
    expect(transport.sent).toHaveLength(2)
    transport.reply([
      { value: null, headers: {} },
      replyRecord({ commandId: 'someone-else', aggregateId: 'x' }, 'msgpack'),
      replyRecord({ commandId: 'cmd-a', aggregateId: 'y' }, 'msgpack'), // another aggregate's cmd-a
      replyRecord({ commandId: 'cmd-b', aggregateId: 'y', status: 'rejected' }, 'json'),
    ])
    await expect(b).resolves.toMatchObject({ commandId: 'cmd-b', status: 'rejected' })
    transport.reply([replyRecord({ commandId: 'cmd-a', aggregateId: 'x', version: 3 }, 'msgpack')])
    await expect(a).resolves.toMatchObject({ commandId: 'cmd-a', status: 'accepted', version: 3 })
    await client.close()
    expect(transport.closed).toBe(true)
  })

  it('matches replies by (aggregateId, commandId): one commandId on two aggregates gets two answers', async () => {
    const transport = new FakeTransport()
    const client = new CommandClient({ transport, ...topics })
    const x = client.sendAndWait({ aggregateId: 'x', type: 'T', payload: {}, commandId: 'same' })
    const y = client.sendAndWait({ aggregateId: 'y', type: 'T', payload: {}, commandId: 'same' })
    await new Promise((r) => setImmediate(r))
    expect(transport.sent.map((r) => r.key)).toEqual(['x', 'y'])
    // x's reply first: it must not resolve y's call (nor be lost).
    transport.reply([replyRecord({ commandId: 'same', aggregateId: 'x', version: 4 }, 'msgpack')])
    transport.reply([replyRecord({ commandId: 'same', aggregateId: 'y', status: 'rejected' }, 'msgpack')])
    await expect(x).resolves.toMatchObject({ aggregateId: 'x', status: 'accepted', version: 4 })
    await expect(y).resolves.toMatchObject({ aggregateId: 'y', status: 'rejected' })
  })

  it('refuses a second sendAndWait of the same (aggregateId, commandId) while the first waits', async () => {
    const transport = new FakeTransport()
    const client = new CommandClient({ transport, ...topics })
    const cmd = { aggregateId: 'x', type: 'T', payload: {}, commandId: 'c1' }
    const first = client.sendAndWait(cmd)
    await new Promise((r) => setImmediate(r))
    const second = await client.sendAndWait(cmd).catch((e: unknown) => e)
    expect(second).toBeInstanceOf(UsageError)
    expect((second as Error).message).toMatch(/already waiting for the reply to command c1 on aggregate x/)
    expect(transport.sent).toHaveLength(1) // the second was not sent
    transport.reply([replyRecord({ commandId: 'c1', aggregateId: 'x' }, 'msgpack')])
    await expect(first).resolves.toMatchObject({ commandId: 'c1', status: 'accepted' })
    // Once answered, the same command may be awaited again (it gets the worker's duplicate reply).
    const again = client.sendAndWait(cmd)
    await new Promise((r) => setImmediate(r))
    expect(transport.sent).toHaveLength(2)
    transport.reply([replyRecord({ commandId: 'c1', aggregateId: 'x', status: 'duplicate' }, 'msgpack')])
    await expect(again).resolves.toMatchObject({ status: 'duplicate' })
  })

  it('a sendAndWait whose send failed stops waiting: the same command can be retried at once', async () => {
    const transport = new FakeTransport()
    const client = new CommandClient({ transport, ...topics, timeoutMs: 60_000 })
    const cmd = { aggregateId: 'x', type: 'T', payload: {}, commandId: 'c1' }
    const send = transport.send.bind(transport)
    transport.send = async () => {
      throw new Error('broker unreachable')
    }
    await expect(client.sendAndWait(cmd)).rejects.toThrow('broker unreachable')
    transport.send = send
    const retry = client.sendAndWait(cmd)
    await new Promise((r) => setImmediate(r))
    transport.reply([replyRecord({ commandId: 'c1', aggregateId: 'x' }, 'msgpack')])
    await expect(retry).resolves.toMatchObject({ commandId: 'c1' })
  })

  it('sendRaw resolves with where each record was written, in order', async () => {
    const transport = new FakeTransport()
    const client = new CommandClient({ transport, ...topics })
    await client.send({ aggregateId: 'x', type: 'T', payload: {} })
    await expect(
      client.sendRaw([
        { key: 'a', value: null },
        { key: 'b', value: null },
      ]),
    ).resolves.toEqual([
      { partition: 0, offset: '1' },
      { partition: 0, offset: '2' },
    ])
  })

  it("the reply to an earlier send of the same (aggregateId, commandId) does not resolve a new wait: only its own record's", async () => {
    // The CI failure: worker A sent dep-1 and was answered (accepted); worker B's listener, behind, had not read
    // that reply yet when B sent dep-1 again and waited. The old reply must not answer B.
    const transport = new FakeTransport()
    const client = new CommandClient({ transport, ...topics })
    await client.send({ aggregateId: 'acc-0', type: 'Deposit', payload: {}, commandId: 'dep-1' }) // offset 0
    const retry = client.sendAndWait({
      aggregateId: 'acc-0',
      type: 'Deposit',
      payload: {},
      commandId: 'dep-1',
    })
    await tick()
    expect(transport.sent).toHaveLength(2) // the retry is at offset 1
    let settled = false
    void retry.then(() => (settled = true))
    transport.reply([replyRecord({ commandId: 'dep-1', aggregateId: 'acc-0', version: 2 }, 'msgpack', 0)])
    await tick()
    expect(settled).toBe(false)
    transport.reply([
      replyRecord(
        {
          commandId: 'dep-1',
          aggregateId: 'acc-0',
          status: 'duplicate',
          originalStatus: 'accepted',
          version: 2,
        },
        'msgpack',
        1,
      ),
    ])
    await expect(retry).resolves.toMatchObject({
      status: 'duplicate',
      originalStatus: 'accepted',
      version: 2,
    })
  })

  it('replies heard before the send resolved are held and matched once its position is known', async () => {
    const transport = new FakeTransport()
    const client = new CommandClient({ transport, ...topics, timeoutMs: 60_000 })
    await client.send({ aggregateId: 'x', type: 'T', payload: {}, commandId: 'c1' }) // offset 0
    transport.hold = true
    const wait = client.sendAndWait({ aggregateId: 'x', type: 'T', payload: {}, commandId: 'c1' }) // offset 1
    await tick()
    expect(transport.sent).toHaveLength(2)
    // Both replies (the earlier record's, then this one's) arrive while the send has not resolved yet.
    transport.reply([
      replyRecord({ commandId: 'c1', aggregateId: 'x', status: 'accepted', version: 1 }, 'msgpack', 0),
      replyRecord({ commandId: 'c1', aggregateId: 'x', status: 'duplicate', version: 1 }, 'json', 1),
    ])
    await tick()
    transport.release()
    await expect(wait).resolves.toMatchObject({ status: 'duplicate' })
  })

  it('a reply held before the send resolved that is not its own is dropped; the wait goes on for its own', async () => {
    const transport = new FakeTransport()
    const client = new CommandClient({ transport, ...topics, timeoutMs: 60_000 })
    await client.send({ aggregateId: 'x', type: 'T', payload: {}, commandId: 'c1' }) // offset 0
    transport.hold = true
    const wait = client.sendAndWait({ aggregateId: 'x', type: 'T', payload: {}, commandId: 'c1' }) // offset 1
    await tick()
    transport.reply([replyRecord({ commandId: 'c1', aggregateId: 'x', version: 1 }, 'msgpack', 0)])
    transport.release()
    let settled = false
    void wait.then(() => (settled = true))
    await tick()
    expect(settled).toBe(false)
    transport.reply([replyRecord({ commandId: 'c1', aggregateId: 'x', status: 'duplicate' }, 'msgpack', 1)])
    await expect(wait).resolves.toMatchObject({ status: 'duplicate' })
  })

  it('a reply without source headers (an older worker) still resolves the wait, before or after the send resolved', async () => {
    const transport = new FakeTransport()
    const client = new CommandClient({ transport, ...topics })
    const after = client.sendAndWait({ aggregateId: 'x', type: 'T', payload: {}, commandId: 'c1' })
    await tick()
    transport.reply([replyRecord({ commandId: 'c1', aggregateId: 'x', version: 7 }, 'msgpack')])
    await expect(after).resolves.toMatchObject({ version: 7 })

    transport.hold = true
    const before = client.sendAndWait({ aggregateId: 'y', type: 'T', payload: {}, commandId: 'c2' })
    await tick()
    transport.reply([replyRecord({ commandId: 'c2', aggregateId: 'y', version: 8 }, 'msgpack')])
    await expect(before).resolves.toMatchObject({ version: 8 }) // at once: the send has not resolved yet
    transport.release()
  })

  it('a transport whose send resolves without positions gets the matching by (aggregateId, commandId)', async () => {
    const transport = new FakeTransport()
    transport.send = async (records) => {
      transport.sent.push(...records)
      return undefined as unknown as SentRecord[]
    }
    const client = new CommandClient({ transport, ...topics })
    const wait = client.sendAndWait({ aggregateId: 'x', type: 'T', payload: {}, commandId: 'c1' })
    await tick()
    transport.reply([replyRecord({ commandId: 'c1', aggregateId: 'x', version: 3 }, 'msgpack', 42)])
    await expect(wait).resolves.toMatchObject({ version: 3 })
  })

  it('a wait that only heard replies to other records times out, and its key is free again', async () => {
    const transport = new FakeTransport()
    const client = new CommandClient({ transport, ...topics, timeoutMs: 30 })
    await client.send({ aggregateId: 'x', type: 'T', payload: {}, commandId: 'c1' }) // offset 0
    const cmd = { aggregateId: 'x', type: 'T', payload: {}, commandId: 'c1' }
    const first = client.sendAndWait(cmd) // offset 1
    await tick()
    transport.reply([replyRecord({ commandId: 'c1', aggregateId: 'x' }, 'msgpack', 0)])
    await expect(first).rejects.toBeInstanceOf(ReplyTimeoutError)
    const second = client.sendAndWait(cmd) // offset 2: not refused as already waiting
    await tick()
    transport.reply([replyRecord({ commandId: 'c1', aggregateId: 'x' }, 'msgpack', 1)]) // first's: too late
    transport.reply([replyRecord({ commandId: 'c1', aggregateId: 'x', status: 'duplicate' }, 'msgpack', 2)])
    await expect(second).resolves.toMatchObject({ status: 'duplicate' })
  })

  it('a wait that times out before its send resolved is cleaned up; its late send does not disturb the next', async () => {
    const transport = new FakeTransport()
    const client = new CommandClient({ transport, ...topics, timeoutMs: 20 })
    const cmd = { aggregateId: 'x', type: 'T', payload: {}, commandId: 'c1' }
    transport.hold = true
    const first = client.sendAndWait(cmd) // offset 0, its send held
    await tick()
    transport.reply([replyRecord({ commandId: 'c1', aggregateId: 'x' }, 'msgpack', 0)]) // held with the wait
    await expect(first).rejects.toBeInstanceOf(ReplyTimeoutError)
    const second = client.sendAndWait(cmd, 60_000) // offset 1, its send held too
    await tick()
    transport.release() // both sends resolve now: the first's must not touch the second's wait
    await tick()
    let settled = false
    void second.then(() => (settled = true))
    await tick()
    expect(settled).toBe(false) // the reply held by the first wait went with it
    transport.reply([replyRecord({ commandId: 'c1', aggregateId: 'x', status: 'duplicate' }, 'msgpack', 1)])
    await expect(second).resolves.toMatchObject({ status: 'duplicate' })
  })

  it('refuses aggregate ids the worker would refuse or could not answer under the same id', async () => {
    const transport = new FakeTransport()
    const client = new CommandClient({ transport, ...topics })
    const send = (aggregateId: string) =>
      client.send({ aggregateId, type: 'T', payload: {} }).catch((e: unknown) => e)
    for (const [id, message] of [
      ['', /empty/],
      ['\u0000kafka-decider/offset-marker', /reserved/],
      ['a\ud800b', /UTF-8/], // a lone surrogate would be sent as U+FFFD: another aggregate
      ['x'.repeat(257), /at most 256 bytes/],
    ] as const) {
      const e = await send(id)
      expect(e, JSON.stringify(id)).toBeInstanceOf(UsageError)
      expect((e as Error).message).toMatch(message)
    }
    expect(transport.sent).toHaveLength(0)
    await expect(send('x'.repeat(256))).resolves.toEqual(expect.any(String))
  })

  it('sendAndWait rejects with ReplyTimeoutError when no reply comes in time', async () => {
    const client = new CommandClient({ transport: new FakeTransport(), ...topics, timeoutMs: 20 })
    const err = await client
      .sendAndWait({ aggregateId: 'x', type: 'T', payload: {} })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ReplyTimeoutError)
    expect(err).toMatchObject({ code: 'reply_timeout', recovery: 'retriable' })
    expect((err as Error).message).toMatch(/is a worker running for c\?/)
  })

  it('needs exactly one of kafka and transport', () => {
    expect(() => new CommandClient({ ...topics })).toThrow(UsageError)
    expect(
      () => new CommandClient({ ...topics, transport: new FakeTransport(), kafka: {} as never }),
    ).toThrow(UsageError)
  })
})
