import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigResourceTypes, type Admin } from 'kafkajs'
import { createTopics, newKafka, uniqueName } from '../support/kafka.ts'

// Proves kafkajs 2.2.4's admin client works against the real broker for what the core needs: creating topics with
// a given partition count and per-topic configs (compacted changelog/snapshot topics, infinite-retention events).
describe('kafkajs admin against the real broker', () => {
  let admin: Admin
  beforeAll(async () => {
    admin = newKafka('proof-admin').admin()
    await admin.connect()
  })
  afterAll(async () => {
    await admin?.disconnect()
  })

  it('creates topics with the asked partition count and configs, and describeConfigs reports them', async () => {
    const compacted = uniqueName('proof-changelog')
    const events = uniqueName('proof-events')
    const created = await createTopics(admin, [
      {
        topic: compacted,
        numPartitions: 3,
        replicationFactor: 1,
        configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
      },
      {
        topic: events,
        numPartitions: 6,
        replicationFactor: 1,
        configEntries: [{ name: 'retention.ms', value: '-1' }],
      },
    ])
    expect(created).toBe(true)
    // Creating an existing topic again is reported, not silently repeated.
    expect(await admin.createTopics({ topics: [{ topic: events, numPartitions: 6 }] })).toBe(false)

    const meta = await admin.fetchTopicMetadata({ topics: [compacted, events] })
    const partitions = Object.fromEntries(meta.topics.map((t) => [t.name, t.partitions.length]))
    expect(partitions).toEqual({ [compacted]: 3, [events]: 6 })

    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        { type: ConfigResourceTypes.TOPIC, name: compacted, configNames: ['cleanup.policy'] },
        { type: ConfigResourceTypes.TOPIC, name: events, configNames: ['cleanup.policy', 'retention.ms'] },
      ],
    })
    const configs = Object.fromEntries(
      described.resources.map((r) => [
        r.resourceName,
        Object.fromEntries(r.configEntries.map((c) => [c.configName, c.configValue])),
      ]),
    )
    expect(configs[compacted]).toEqual({ 'cleanup.policy': 'compact' })
    // The other topic keeps the default policy: the compact result above is per topic, not a broker-wide default.
    expect(configs[events]).toEqual({ 'cleanup.policy': 'delete', 'retention.ms': '-1' })

    expect(await admin.listTopics()).toEqual(expect.arrayContaining([compacted, events]))
  })
})
