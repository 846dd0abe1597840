/**
 * The log format: auto = pretty on a terminal and JSON otherwise; log.format / DECIDER_LOG_FORMAT override it;
 * without pino-pretty the worker logs JSON and says how to get pretty logs. And the 'worker ready' line's
 * `decider send` example.
 */
import { describe, expect, it } from 'vitest'
import { resolveWorkerConfig } from '../../src/config/worker-config.ts'
import { ConfigError } from '../../src/errors.ts'
import { fromDecider } from '../../src/topology/loader.ts'
import type { AnyDecider } from '../../src/domain/decider.ts'
import { readyMessage, samplePayload, sendExample } from '../../src/worker/first-run.ts'
import { chooseLogFormat, createLogger, type PrettyFactory } from '../../src/worker/logger.ts'
import bank from '../../topologies/bank-account.ts'
import { z } from 'zod'

function capture() {
  const lines: string[] = []
  return { lines, stream: { write: (s: string) => void lines.push(s) } }
}

/** A stand-in for pino-pretty: marks each line so the test sees which stream got it. */
function fakePretty(out: string[]): PrettyFactory {
  return () => ({ write: (s: string) => void out.push(`PRETTY ${(JSON.parse(s) as { msg: string }).msg}`) })
}

describe('log format', () => {
  it('auto is pretty on a terminal and JSON otherwise; json and pretty are taken as they are', () => {
    expect(chooseLogFormat('auto', true)).toBe('pretty')
    expect(chooseLogFormat('auto', false)).toBe('json')
    expect(chooseLogFormat('json', true)).toBe('json')
    expect(chooseLogFormat('pretty', false)).toBe('pretty')
  })

  it('DECIDER_LOG_FORMAT overrides log.format; the default is auto; a wrong value is a clear error', () => {
    expect(resolveWorkerConfig({}, {}).log.format).toBe('auto')
    expect(
      resolveWorkerConfig({ log: { format: 'pretty' } }, { DECIDER_LOG_FORMAT: 'json' }).log.format,
    ).toBe('json')
    expect(() => resolveWorkerConfig({}, { DECIDER_LOG_FORMAT: 'text' })).toThrow(ConfigError)
    expect(() => resolveWorkerConfig({}, { DECIDER_LOG_FORMAT: 'text' })).toThrow(
      'DECIDER_LOG_FORMAT=text is not a log format; use one of auto, json, pretty',
    )
    expect(() => resolveWorkerConfig({ log: { format: 'yaml' } }, {})).toThrow(/log\.format/)
  })

  it('writes through pino-pretty on a terminal, JSON lines when not a terminal or when json is forced', async () => {
    const pretty: string[] = []
    const json = capture()
    const o = { destination: json.stream, loadPretty: async () => fakePretty(pretty) }
    ;(await createLogger({ level: 'info', format: 'auto' }, { ...o, isTTY: true })).info('on a terminal')
    ;(await createLogger({ level: 'info', format: 'auto' }, { ...o, isTTY: false })).info('in a pipe')
    ;(await createLogger({ level: 'info', format: 'json' }, { ...o, isTTY: true })).info('forced json')
    expect(pretty).toEqual(['PRETTY on a terminal'])
    expect(json.lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual([
      'in a pipe',
      'forced json',
    ])
  })

  it('falls back to JSON without pino-pretty and says how to get it (a warning when pretty was asked for)', async () => {
    const json = capture()
    const o = { destination: json.stream, isTTY: true, loadPretty: async () => undefined }
    ;(await createLogger({ level: 'info', format: 'auto' }, o)).info('still logged')
    ;(await createLogger({ level: 'info', format: 'pretty' }, o)).info('still logged')
    const lines = json.lines.map((l) => JSON.parse(l) as { level: number; msg: string })
    expect(lines).toEqual([
      expect.objectContaining({ level: 30, msg: expect.stringContaining('npm i pino-pretty') }),
      expect.objectContaining({ level: 30, msg: 'still logged' }),
      expect.objectContaining({ level: 40, msg: expect.stringContaining('npm i pino-pretty') }),
      expect.objectContaining({ level: 30, msg: 'still logged' }),
    ])
  })
})

describe('worker ready line', () => {
  const topology = fromDecider(bank as unknown as AnyDecider, { name: 'bank', partitions: 3 })
  topology.file = 'topologies/bank.yaml'

  it("names the endpoints, brokers and topics, and a send command with the first command's sample payload", () => {
    const m = readyMessage([topology], ['127.0.0.1:9092'], 'http://127.0.0.1:9464')
    const send = `npx decider send topologies/bank.yaml --type CreateAccount --id example-1 --payload '{"owner":"example"}' --wait`
    expect(sendExample(topology)).toBe(send)
    expect(m.msg).toBe(`worker ready; console: http://127.0.0.1:9464/console/; send a command: ${send}`)
    expect(m.fields).toMatchObject({
      brokers: ['127.0.0.1:9092'],
      topologies: [
        { name: 'bank', partitions: 3, topics: { commands: 'bank.commands', events: 'bank.events' } },
      ],
      http: {
        console: 'http://127.0.0.1:9464/console/',
        metrics: 'http://127.0.0.1:9464/metrics',
        health: ['http://127.0.0.1:9464/livez', 'http://127.0.0.1:9464/readyz'],
        state: ['http://127.0.0.1:9464/state/bank/<aggregateId>'],
      },
      send: [send],
    })
    expect(readyMessage([topology], ['b:9092']).fields).not.toHaveProperty('http')
    expect(readyMessage([topology], ['b:9092']).msg).toBe(`worker ready; send a command: ${send}`)
  })

  it('makes a sample payload the schema accepts, or none when it cannot guess', () => {
    const schema = z.object({
      sku: z.string().min(10),
      qty: z.number().int().positive().max(50),
      kind: z.enum(['a', 'b']),
      note: z.string().optional(),
    })
    const sample = samplePayload(schema)
    expect(schema.safeParse(sample).success).toBe(true)
    expect(sample).toEqual({ sku: 'examplexxx', qty: 50, kind: 'a' })
    expect(samplePayload(z.object({ code: z.string().regex(/^[A-Z]{3}$/) }))).toBeUndefined()
    expect(samplePayload('not a schema')).toBeUndefined()
  })
})
