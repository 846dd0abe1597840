/** coordinator-cache.ts: a transactional producer's coordinator lookups are remembered, and forgotten on doubt. */
import { describe, expect, it } from 'vitest'
import { COORDINATOR_TTL_MS, coordinatorCaching } from '../../src/kafka/coordinator-cache.ts'
import { afterPackageLoad } from '../support/preload-probe.ts'

const protocolError = (type: string) => Object.assign(new Error(type), { name: 'KafkaJSProtocolError', type })

class FakeBroker {
  constructor(
    readonly nodeId: number,
    private readonly failure: () => Error | undefined,
  ) {}
  async endTxn(): Promise<string> {
    const e = this.failure()
    if (e !== undefined) throw e
    return `ended by ${this.nodeId}`
  }
}

class FakeCluster {
  lookups = 0
  coordinator = 1
  failure: Error | undefined
  readonly retry = { retries: 3 }
  private readonly brokers = new Map<number, FakeBroker>()
  async findGroupCoordinator({
    groupId,
  }: {
    groupId: string
    coordinatorType?: number
  }): Promise<FakeBroker> {
    this.lookups++
    if (groupId === 'none') throw new Error('no coordinator')
    let b = this.brokers.get(this.coordinator)
    if (!b) this.brokers.set(this.coordinator, (b = new FakeBroker(this.coordinator, () => this.failure)))
    return b
  }
  async refreshMetadataIfNecessary(): Promise<string> {
    return `refreshed with ${this.lookups} lookups` // `this` must be the cluster itself
  }
}

describe('coordinatorCaching', () => {
  it('looks a coordinator up once per key and type, and leaves the rest of the cluster as it is', async () => {
    const cluster = new FakeCluster()
    const c = coordinatorCaching(cluster)
    const a = await c.findGroupCoordinator({ groupId: 'txn-1', coordinatorType: 1 })
    expect(await c.findGroupCoordinator({ groupId: 'txn-1', coordinatorType: 1 })).toBe(a)
    await c.findGroupCoordinator({ groupId: 'txn-1', coordinatorType: 0 })
    await c.findGroupCoordinator({ groupId: 'group', coordinatorType: 0 })
    expect(cluster.lookups).toBe(3)
    expect(await a.endTxn()).toBe('ended by 1')
    expect(c.retry).toBe(cluster.retry)
    expect(await c.refreshMetadataIfNecessary()).toBe('refreshed with 3 lookups')
    await expect(c.findGroupCoordinator({ groupId: 'none' })).rejects.toThrow('no coordinator')
  })

  it('keeps a coordinator that refuses as the coordinator, forgets one that is not (or is unreachable)', async () => {
    const cluster = new FakeCluster()
    const c = coordinatorCaching(cluster)
    const lookup = () => c.findGroupCoordinator({ groupId: 't', coordinatorType: 1 })
    const first = await lookup()
    // CONCURRENT_TRANSACTIONS (after every commit), fencing: a lookup would name the same broker.
    for (const type of ['CONCURRENT_TRANSACTIONS', 'INVALID_PRODUCER_EPOCH']) {
      cluster.failure = protocolError(type)
      await expect(first.endTxn()).rejects.toMatchObject({ type })
      expect(await lookup()).toBe(first)
    }
    expect(cluster.lookups).toBe(1)
    let expected = 1
    for (const failure of [
      protocolError('NOT_COORDINATOR_FOR_GROUP'),
      protocolError('GROUP_COORDINATOR_NOT_AVAILABLE'),
      protocolError('GROUP_LOAD_IN_PROGRESS'),
      Object.assign(new Error('Connection closed'), { name: 'KafkaJSConnectionError' }),
      Object.assign(new Error('Request timed out'), { name: 'KafkaJSRequestTimeoutError' }),
    ]) {
      const held = await lookup()
      cluster.failure = failure
      cluster.coordinator++
      await expect(held.endTxn()).rejects.toBe(failure)
      cluster.failure = undefined
      const next = await lookup()
      expect(cluster.lookups, failure.message).toBe(++expected)
      expect(next).not.toBe(held)
      expect(await next.endTxn()).toBe(`ended by ${cluster.coordinator}`)
    }
  })

  it(`asks again after ${COORDINATOR_TTL_MS} ms`, async () => {
    const cluster = new FakeCluster()
    let t = 0
    const c = coordinatorCaching(cluster, () => t)
    await c.findGroupCoordinator({ groupId: 't', coordinatorType: 1 })
    t = COORDINATOR_TTL_MS - 1
    await c.findGroupCoordinator({ groupId: 't', coordinatorType: 1 })
    expect(cluster.lookups).toBe(1)
    t = COORDINATOR_TTL_MS
    await c.findGroupCoordinator({ groupId: 't', coordinatorType: 1 })
    expect(cluster.lookups).toBe(2)
  })

  it("is kafkajs' transaction manager factory once the package is loaded (in a fresh process)", () => {
    const probe = afterPackageLoad(['kafkajs/src/producer/eosManager/index.js'])
    expect(probe).toBe('cachingEosManager')
  })
})
