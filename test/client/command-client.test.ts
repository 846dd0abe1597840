/** The CommandClient over a CommandTransport double: envelopes, reply matching, timeouts, options. */
import { describe, expect, it } from 'vitest'
import {
  CommandClient,
  type CommandRecord,
  type CommandTransport,
  type ReplyRecord,
} from '../../src/client/command-client.ts'
import { CONTENT_TYPES, decode, encode } from '../../src/domain/codec.ts'
import { HEADERS, type CommandEnvelope, type ReplyEnvelope } from '../../src/domain/envelopes.ts'
import { ReplyTimeoutError, UsageError } from '../../src/errors.ts'

/** Records what is sent; `reply()` delivers replies as the Kafka transport does once they committed. */
class FakeTransport implements CommandTransport {
  readonly sent: CommandRecord[] = []
  listens = 0
  closed = false
  private onReplies: ((records: ReplyRecord[]) => void) | undefined

  async send(records: CommandRecord[]): Promise<void> {
    this.sent.push(...records)
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

function replyRecord(
  reply: Partial<ReplyEnvelope> & { commandId: string },
  serialization: 'json' | 'msgpack',
): ReplyRecord {
  const full = { aggregateId: 'a', status: 'accepted', version: 1, events: [], ...reply }
  return {
    value: encode(full, serialization),
    headers: { [HEADERS.contentType]: CONTENT_TYPES[serialization] },
  }
}

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
      replyRecord({ commandId: 'someone-else' }, 'msgpack'),
      replyRecord({ commandId: 'cmd-b', status: 'rejected' }, 'json'),
    ])
    await expect(b).resolves.toMatchObject({ commandId: 'cmd-b', status: 'rejected' })
    transport.reply([replyRecord({ commandId: 'cmd-a', version: 3 }, 'msgpack')])
    await expect(a).resolves.toMatchObject({ commandId: 'cmd-a', status: 'accepted', version: 3 })
    await client.close()
    expect(transport.closed).toBe(true)
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
