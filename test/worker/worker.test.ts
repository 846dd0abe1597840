/**
 * The worker's stop path without a broker: a topology whose group is gone for good (kafkajs' CRASH with restart
 * false) stops the worker with exit code 1 and a fatal log naming the topology, /readyz saying why meanwhile; a
 * crash kafkajs restarts after does not. The runner is a stand-in holding the real consumer loop over a fake
 * kafkajs consumer, wired as TopologyRunner wires it (onGone -> onFatal).
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { resolveWorkerConfig } from '../../src/config/worker-config.ts'
import type { AnyDecider } from '../../src/domain/decider.ts'
import { KafkaConsumerLoop } from '../../src/kafka/consumer-loop.ts'
import { defineProjection } from '../../src/domain/projection.ts'
import { ConfigError } from '../../src/errors.ts'
import { fromDecider } from '../../src/topology/loader.ts'
import { fromProjection } from '../../src/topology/projection-loader.ts'
import type { TopologyRunnerOptions, WorkerRunner } from '../../src/worker/topology-runner.ts'
import { Worker } from '../../src/worker/worker.ts'
import bank from '../../topologies/bank-account.ts'
import { FakeConsumer } from '../support/fake-kafkajs.ts'

function setup(o: { stalls?: string[] } = {}) {
  const topology = fromDecider(bank as unknown as AnyDecider, { name: 'bank', partitions: 1 })
  const consumer = new FakeConsumer()
  const lines: { level: number; msg: string; topology?: string; err?: { code?: string } }[] = []
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) })
  const fakeRunner = (r: TopologyRunnerOptions): WorkerRunner => {
    const loop = new KafkaConsumerLoop({
      kafka: consumer.asKafka(),
      groupId: r.topology.applicationId,
      topic: r.topology.topics.commands,
      partitions: 1,
      maxBytesPerPartition: 1024,
      sessionTimeoutMs: 30_000,
      heartbeatIntervalMs: 3000,
      rebalanceTimeoutMs: 60_000,
      logger: r.logger,
      onGone: r.onFatal,
    })
    return {
      name: r.topology.definition.name,
      tasks: new Map(),
      isReady: () => (o.stalls ?? []).length === 0,
      stalls: () => o.stalls ?? [],
      start: () =>
        loop.start({
          assigned: () => undefined,
          handleBatch: async () => undefined,
          position: () => undefined,
          groupLost: () => undefined,
        }),
      stop: () => loop.stop(),
    }
  }
  const worker = new Worker({
    topologies: [topology],
    config: resolveWorkerConfig(
      {
        kafka: { brokers: ['127.0.0.1:1'] },
        stateDir: mkdtempSync(path.join(tmpdir(), 'kd-worker-')),
        http: { enabled: false },
        log: { level: 'silent' },
      },
      {},
    ),
    logger,
    createRunner: fakeRunner,
  })
  const exited = (ms: number) =>
    Promise.race([worker.done, new Promise((r) => setTimeout(() => r('still running'), ms))])
  return { worker, consumer, lines, exited }
}

describe('Worker', () => {
  it('exits 1 when a topology group is gone for good (kafkajs will not restart its consumer), /readyz saying why', async () => {
    const h = setup()
    await h.worker.start()
    expect(h.worker.readiness()).toEqual({ ready: true })
    h.consumer.emit(h.consumer.events.CRASH, {
      error: new Error('The group is rebalancing, so a rejoin is needed'),
      restart: false,
      groupId: 'g',
    })
    expect(h.worker.readiness()).toEqual({
      ready: false,
      reason: expect.stringMatching(/^stopping: the consumer of group bank crashed .*rejoin is needed/),
    })
    expect(await h.exited(2000)).toBe(1)
    const fatal = h.lines.find((l) => l.level === 60)
    expect(fatal).toMatchObject({ topology: 'bank', err: { code: 'consumer_crashed' } })
    expect(fatal?.msg).toMatch(/stopping the worker: the consumer of group bank crashed/)
    expect(h.consumer.calls).toContain('disconnect')
  })

  it('keeps running when kafkajs restarts the consumer after a crash', async () => {
    const h = setup()
    await h.worker.start()
    h.consumer.emit(h.consumer.events.CRASH, { error: new Error('broker gone'), restart: true, groupId: 'g' })
    expect(await h.exited(300)).toBe('still running')
    await h.worker.stop()
    expect(await h.worker.done).toBe(0)
  })

  it('/readyz names partitions that make no progress', async () => {
    const h = setup({ stalls: ['partition 3: task initialisation failed 4 times in a row (boom)'] })
    await h.worker.start()
    expect(h.worker.readiness()).toEqual({
      ready: false,
      reason: 'bank: partition 3: task initialisation failed 4 times in a row (boom)',
    })
    await h.worker.stop()
  })

  it('refuses a topology and a projection of one name: each name is a consumer group and the key of routed reads', () => {
    const topology = fromDecider(bank as unknown as AnyDecider, { name: 'bank', partitions: 1 })
    const projection = fromProjection(
      defineProjection({ key: () => 'k', project: () => ({}) }),
      { name: 'bank' },
      [{ topic: topology.topics.events, topology }],
    )
    const config = resolveWorkerConfig({ http: { enabled: false }, log: { level: 'silent' } }, {})
    expect(() => new Worker({ topologies: [topology], projections: [projection], config })).toThrow(
      ConfigError,
    )
    expect(() => new Worker({ topologies: [topology], projections: [projection], config })).toThrow(
      /named bank: each name is a consumer group/,
    )
  })
})
