/**
 * GET /state/<topology>/<aggregateId> without a broker: real Tasks over the in-memory ports behind the real
 * HTTP server. The committed snapshot of the owning task; 404 when the partition is not ours or the
 * aggregate has none; 503 while the task is not RUNNING; never the state of an open transaction.
 */
import type { AddressInfo } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import type { AnyDecider } from '../../src/domain/decider.ts'
import { startHttp } from '../../src/http/server.ts'
import { stateQuery, type QueryableTask } from '../../src/http/state.ts'
import { partitionOf } from '../../src/kafka/partitioner.ts'
import { createMetrics } from '../../src/metrics/metrics.ts'
import { Task } from '../../src/runtime/task.ts'
import { MemoryLog } from '../../src/testing/memory-log.ts'
import { memoryTaskPorts, silentLogger, type MemoryTaskPorts } from '../../src/testing/memory-ports.ts'
import { produceCommands, type CommandSpec } from '../../src/testing/records.ts'
import { fromDecider } from '../../src/topology/loader.ts'
import bank from '../../topologies/bank-account.ts'

const topology = fromDecider(bank as unknown as AnyDecider, { name: 'bank', partitions: 2 })
const log = new MemoryLog()
const ports = new Map<number, MemoryTaskPorts>()
const tasks = new Map<number, QueryableTask>()

async function startTask(p: number): Promise<Task> {
  const pp = memoryTaskPorts({ topology, partition: p, log })
  const task = new Task({ topology, partition: p, ports: pp, logger: silentLogger, partitioner: partitionOf })
  await task.initialize()
  ports.set(p, pp)
  tasks.set(p, task)
  return task
}

/** Produces the commands to their partitions and lets the owning tasks process them (one batch each). */
async function run(cmds: CommandSpec[]): Promise<void> {
  for (const c of cmds) produceCommands(log, topology.topics.commands, partitionOf(c.aggregateId!, 2), [c])
  for (const [p, task] of tasks) {
    if (!(task instanceof Task)) continue
    const records = log.inputRecords(topology.topics.commands, p, task.nextOffset)
    if (records.length > 0) expect((await task.process(records, () => undefined)).kind).toBe('done')
  }
}

describe('GET /state/<topology>/<aggregateId>', async () => {
  await startTask(0)
  await startTask(1)
  const server = await startHttp({
    host: '127.0.0.1',
    port: 0,
    registry: createMetrics().registry,
    readiness: () => ({ ready: true }),
    state: stateQuery([topology], () => [{ name: 'bank', tasks }]),
  })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  afterAll(() => new Promise<void>((r) => server.close(() => r())))
  const get = async (path: string) => {
    const r = await fetch(`${base}${path}`)
    return {
      status: r.status,
      type: r.headers.get('content-type'),
      body: (await r.json()) as Record<string, unknown>,
    }
  }
  const id = 'acc/1 ü' // slash, space and non-ASCII: URL-encoded by the client
  const path = `/state/bank/${encodeURIComponent(id)}`

  it('returns the committed snapshot from the task that owns the partition', async () => {
    await run([
      { aggregateId: id, commandId: 'c1', type: 'CreateAccount', payload: { owner: 'Ada' } },
      { aggregateId: id, commandId: 'c2', type: 'Deposit', payload: { amount: 30 } },
    ])
    const r = await get(path)
    expect(r.status).toBe(200)
    expect(r.type).toContain('application/json')
    expect(r.body).toMatchObject({
      partition: partitionOf(id, 2),
      aggregateId: id,
      version: 2,
      state: { status: 'open', owner: 'Ada', balance: 30 },
    })
    expect(r.body.recent).toHaveLength(2)
  })

  it('never shows the state of an open transaction, only what is committed', async () => {
    const p = partitionOf(id, 2)
    let during: Awaited<ReturnType<typeof get>> | undefined
    // Asked while the next batch's transaction is open (events and snapshot sent, not committed).
    ports.get(p)!.faults.beforeNext('commit', async () => void (during = await get(path)))
    await run([{ aggregateId: id, commandId: 'c3', type: 'Deposit', payload: { amount: 12 } }])
    expect(during).toMatchObject({ status: 200, body: { version: 2, state: { balance: 30 } } })
    expect(await get(path)).toMatchObject({ status: 200, body: { version: 3, state: { balance: 42 } } })
  })

  it('404 when the aggregate has no snapshot', async () => {
    const r = await get('/state/bank/nobody')
    expect(r).toMatchObject({
      status: 404,
      body: { code: 'no_snapshot', partition: partitionOf('nobody', 2) },
    })
    expect(r.body.error).toMatch(
      /aggregate nobody has no committed snapshot in partition \d of topology bank/,
    )
  })

  it('404 when the partition is not assigned to this worker, naming the ones that are', async () => {
    const p = partitionOf(id, 2)
    const task = tasks.get(p)!
    tasks.delete(p)
    try {
      const r = await get(path)
      expect(r).toMatchObject({
        status: 404,
        body: { code: 'not_assigned', partition: p, assigned: [1 - p] },
      })
      expect(r.body.error).toContain(
        `partition ${p} of topology bank is not assigned to this worker (assigned: ${1 - p})`,
      )
    } finally {
      tasks.set(p, task)
    }
  })

  it('404 for a topology this worker does not run', async () => {
    expect(await get('/state/other/x')).toMatchObject({
      status: 404,
      body: { code: 'unknown_topology', error: 'this worker does not run topology other (it runs: bank)' },
    })
  })

  it('503 while the task is not RUNNING (restoring after a rebalance)', async () => {
    const p = partitionOf(id, 2)
    const task = tasks.get(p)!
    tasks.set(
      p,
      new Task({
        topology,
        partition: p,
        ports: memoryTaskPorts({ topology, partition: p, log }),
        logger: silentLogger,
        partitioner: partitionOf,
      }),
    )
    try {
      expect(await get(path)).toMatchObject({
        status: 503,
        body: { code: 'not_running', taskState: 'CREATED', partition: p },
      })
    } finally {
      tasks.set(p, task)
    }
  })

  it('503 before the topology runner exists; 400 on a malformed path', async () => {
    const s = await startHttp({
      host: '127.0.0.1',
      port: 0,
      registry: createMetrics().registry,
      readiness: () => ({ ready: false }),
      state: stateQuery([topology], () => []),
    })
    try {
      const r = await fetch(`http://127.0.0.1:${(s.address() as AddressInfo).port}/state/bank/x`)
      expect(r.status).toBe(503)
      expect(await r.json()).toMatchObject({ code: 'starting' })
    } finally {
      await new Promise<void>((res) => s.close(() => res()))
    }
    for (const bad of ['/state', '/state/bank', '/state/bank/']) {
      const r = await get(bad)
      expect(r.status, bad).toBe(400)
      expect(r.body.error).toBe('use /state/<topology>/<aggregateId> (both URL-encoded)')
    }
    // Malformed percent-encoding is refused before any route (guard.ts), for every path.
    const malformed = await get('/state/bank/%E0%A4%A')
    expect(malformed.status).toBe(400)
    expect(malformed.body.code).toBe('bad_path')
  })
})
