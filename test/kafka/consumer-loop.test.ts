/** The consumer loop over a stand-in kafkajs consumer: what it hands the task manager, where it makes kafkajs fetch. */
import { describe, expect, it } from 'vitest'
import { ConsumerCrashedError } from '../../src/errors.ts'
import { KafkaConsumerLoop, type ConsumerLoopHandler } from '../../src/kafka/consumer-loop.ts'
import { silentLogger } from '../../src/testing/memory-ports.ts'
import { FakeConsumer, rawMessage } from '../support/fake-kafkajs.ts'

async function setup() {
  const consumer = new FakeConsumer()
  const gone: ConsumerCrashedError[] = []
  const delivered: number[][] = []
  let lost = 0
  const loop = new KafkaConsumerLoop({
    kafka: consumer.asKafka(),
    groupId: 'g',
    topic: 't',
    partitions: 1,
    maxBytesPerPartition: 1024,
    sessionTimeoutMs: 30_000,
    heartbeatIntervalMs: 3000,
    rebalanceTimeoutMs: 60_000,
    logger: silentLogger,
    onGone: (e) => gone.push(e),
  })
  const handler: ConsumerLoopHandler = {
    assigned: () => undefined,
    handleBatch: async (_p, records) => void delivered.push(records.map((r) => Number(r.offset))),
    position: () => undefined,
    groupLost: () => void lost++,
  }
  await loop.start(handler)
  return { consumer, loop, gone, delivered, lost: () => lost }
}

const plain = (o: number) => rawMessage(o, 'p', { inTransaction: false })

describe('KafkaConsumerLoop', () => {
  it('reports a crash kafkajs does not restart after as the group gone for good; a restart only as group lost', async () => {
    const h = await setup()
    h.consumer.emit(h.consumer.events.CRASH, {
      error: new Error('rebalance failed'),
      restart: true,
      groupId: 'g',
    })
    expect(h.gone).toEqual([])
    const cause = new Error('UNKNOWN_MEMBER_ID, not retriable')
    h.consumer.emit(h.consumer.events.CRASH, { error: cause, restart: false, groupId: 'g' })
    expect(h.gone).toHaveLength(1)
    expect(h.gone[0]).toBeInstanceOf(ConsumerCrashedError)
    expect(h.gone[0]!.message).toMatch(/group g .*UNKNOWN_MEMBER_ID/)
    expect(h.gone[0]!.cause).toBe(cause)
    expect(h.lost()).toBe(2)
  })

  it('hands over committed records with nothing undecided before them; fetches on from what the filter read', async () => {
    const h = await setup()
    h.loop.seek(0, 0n)
    await h.consumer.batch(0, 0n, [plain(0), rawMessage(1, 'X'), plain(2)])
    expect(h.delivered).toEqual([[0]])
    expect(h.consumer.fetchFrom.get(0)).toBe(3n) // not 1: the open transaction is not fetched again and again
    // X's commit marker comes alone: kafkajs skips eachBatch, so the loop fetches again from the last data record.
    h.consumer.emit(h.consumer.events.END_BATCH_PROCESS, {
      partition: 0,
      highWatermark: '4',
      firstOffset: '3',
      lastOffset: '3',
      batchSize: 0,
    })
    expect(h.consumer.calls.at(-1)).toBe('seek 0@2')
    await h.consumer.batch(0, 2n, [plain(2), rawMessage(3, 'X', { control: 'commit' })])
    expect(h.delivered).toEqual([[0], [1, 2]])
    expect(h.consumer.fetchFrom.get(0)).toBe(4n)
  })

  it('a seek back (a retried batch) reads again what the filter had released or held; stale and gapped fetches are not fed', async () => {
    const h = await setup()
    h.loop.seek(0, 0n)
    await h.consumer.batch(0, 0n, [plain(0), plain(1), rawMessage(2, 'X')])
    expect(h.delivered).toEqual([[0, 1]])
    h.loop.seek(0, 0n) // the transaction of [0, 1] aborted: the task manager seeks back to 0
    await h.consumer.batch(0, 0n, [
      plain(0),
      plain(1),
      rawMessage(2, 'X'),
      rawMessage(3, 'X', { control: 'commit' }),
    ])
    expect(h.delivered).toEqual([
      [0, 1],
      [0, 1, 2],
    ])
    // A fetch that starts after the filter's position would skip records: fetched again from there instead.
    await h.consumer.batch(0, 6n, [plain(6)])
    expect(h.consumer.calls.at(-1)).toBe('seek 0@4')
    expect(h.delivered).toHaveLength(2)
  })
})
