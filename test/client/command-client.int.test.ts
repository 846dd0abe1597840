/**
 * The CommandClient on the real broker with a worker: a client whose reply listener is behind (it has not handed
 * out the reply to another client's send of the same command yet) still gets the reply to its own send. The CI
 * failure of test/http/routing.int.test.ts, made deterministic: that reply listener is held back here.
 */
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CommandClient,
  type CommandRecord,
  type CommandTransport,
  type ReplyRecord,
  type SentRecord,
} from '../../src/client/command-client.ts'
import { HEADERS } from '../../src/domain/envelopes.ts'
import { KafkaCommandTransport } from '../../src/kafka/command-transport.ts'
import { spawnWorker, tempDir, waitForLog, writeBankTopology, type WorkerProcess } from '../support/eos.ts'
import { newKafka, pollUntil, uniqueName } from '../support/kafka.ts'

const name = uniqueName('client-replies')
const dir = tempDir('client-replies')
const file = writeBankTopology(dir, name)
const topics = { commandsTopic: `${name}.commands`, repliesTopic: `${name}.replies` }
let worker: WorkerProcess

/**
 * The kafkajs transport, whose replies are held back (heard, not handed out) while `behind` is set; it catches up
 * at the next send (the client waits by then), as that send starts (`catchUpAt: 'send'`: before it resolved) or
 * just after it resolved (`'sent'`).
 */
class LaggingTransport implements CommandTransport {
  readonly inner = new KafkaCommandTransport(newKafka(uniqueName('lagging')), topics)
  behind = false
  catchUpAt: 'send' | 'sent' = 'send'
  readonly held: ReplyRecord[] = []
  private deliver: ((records: ReplyRecord[]) => void) | undefined

  async send(records: CommandRecord[]): Promise<SentRecord[]> {
    const behind = this.behind
    if (behind && this.catchUpAt === 'send') this.catchUp()
    const sent = await this.inner.send(records)
    if (behind && this.catchUpAt === 'sent') setImmediate(() => this.catchUp())
    return sent
  }

  listenForReplies(onReplies: (records: ReplyRecord[]) => void): Promise<void> {
    this.deliver = onReplies
    return this.inner.listenForReplies((records) => {
      if (this.behind) this.held.push(...records)
      else onReplies(records)
    })
  }

  catchUp(): void {
    this.behind = false
    this.deliver?.(this.held.splice(0))
  }

  close(): Promise<void> {
    return this.inner.close()
  }
}

beforeAll(async () => {
  worker = spawnWorker(file, path.join(dir, 'state'), { DECIDER_LOG_FORMAT: 'json' })
  await waitForLog(worker, /"msg":"worker ready/, 1, 60_000)
}, 90_000)

afterAll(async () => {
  worker.kill('SIGKILL')
  await worker.exited
})

describe('CommandClient on the real broker', () => {
  for (const catchUpAt of ['send', 'sent'] as const) {
    it(`a client behind on replies gets its own command's reply (duplicate), not the earlier send's (accepted); it catches up at ${catchUpAt}`, async () => {
      const a = new CommandClient({ kafka: newKafka(uniqueName('client-a')), ...topics })
      const lagging = new LaggingTransport()
      lagging.catchUpAt = catchUpAt
      const b = new CommandClient({ transport: lagging, ...topics })
      const aggregateId = `acc-${catchUpAt}`
      try {
        await b.ready()
        lagging.behind = true
        const deposit = { aggregateId, type: 'Deposit', payload: { amount: 100 }, commandId: 'dep-1' }
        await a.sendAndWait({ aggregateId, type: 'CreateAccount', payload: { owner: 'Ada' } }, 60_000)
        expect(await a.sendAndWait(deposit, 30_000)).toMatchObject({ status: 'accepted', version: 2 })
        // B has heard A's replies but not handed them out yet, as a reply listener behind would.
        await pollUntil(
          async () => lagging.held.length,
          (n) => n >= 2,
        )
        const source = lagging.held.at(-1)!.headers
        expect(source[HEADERS.sourcePartition]).toMatch(/^\d+$/)
        expect(source[HEADERS.sourceOffset]).toMatch(/^\d+$/)
        // B sends dep-1 again: the old 'accepted' reply reaches its wait first, then its own.
        expect(await b.sendAndWait(deposit, 30_000)).toMatchObject({
          status: 'duplicate',
          originalStatus: 'accepted',
          version: 2,
        })
      } finally {
        await Promise.all([a.close(), b.close()])
      }
    }, 120_000)
  }
})
