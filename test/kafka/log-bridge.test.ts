/**
 * The kafkajs -> pino level mapping: transient start-up conditions (coordinator, leader, connection) are debug
 * during start-up and while retried away, warn once they persist; other kafkajs errors stay warn.
 */
import { logLevel } from 'kafkajs'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { KafkaLogFilter, kafkaLogCreator } from '../../src/kafka/log-bridge.ts'

const COORDINATOR = 'Response GroupCoordinator(key: 10, version: 2) The group coordinator is not available'
const LOADING =
  "Response InitProducerId(key: 22, version: 1) The coordinator is loading and hence can't process requests for this group"
const NO_LEADER =
  'Response Metadata(key: 3, version: 6) There is no leader for this topic-partition as we are in the middle of a leadership election'
const REFUSED = 'Connection error: connect ECONNREFUSED 127.0.0.1:9092 '

function clock() {
  let t = 0
  return { now: () => t, advance: (ms: number) => void (t += ms) }
}

const opts = { startupWindowMs: 60_000, persistMs: 15_000, quietMs: 30_000 }

describe('KafkaLogFilter', () => {
  it('keeps every transient start-up condition at debug while the worker starts, however often', () => {
    const c = clock()
    const f = new KafkaLogFilter({ now: c.now, ...opts })
    for (let i = 0; i < 50; i++) {
      for (const text of [COORDINATOR, LOADING, NO_LEADER, REFUSED])
        expect(f.decide(logLevel.ERROR, text).level, text).toBe('debug')
      c.advance(1000) // 50 s of retries: still inside the 60 s start-up window
    }
  })

  it('makes a condition that outlasts the start-up window a warning, with how long it has lasted', () => {
    const c = clock()
    const f = new KafkaLogFilter({ now: c.now, ...opts })
    for (let t = 0; t < 60_000; t += 5000, c.advance(5000))
      expect(f.decide(logLevel.ERROR, COORDINATOR).level).toBe('debug')
    expect(f.decide(logLevel.ERROR, COORDINATOR)).toEqual({
      level: 'warn',
      transient: { kind: 'GROUP_COORDINATOR_NOT_AVAILABLE', persistingMs: 60_000, occurrences: 13 },
    })
  })

  it('after start-up: debug while a condition is younger than persistMs, warn after; a quiet gap starts it over', () => {
    const c = clock()
    const f = new KafkaLogFilter({ now: c.now, ...opts })
    f.started()
    expect(f.decide(logLevel.ERROR, NO_LEADER).level).toBe('debug')
    c.advance(14_000)
    expect(f.decide(logLevel.ERROR, NO_LEADER).level).toBe('debug')
    c.advance(1000)
    expect(f.decide(logLevel.ERROR, NO_LEADER)).toMatchObject({
      level: 'warn',
      transient: { kind: 'LEADER_NOT_AVAILABLE', persistingMs: 15_000, occurrences: 3 },
    })
    // Each condition has its own streak: another one starting now is debug.
    expect(f.decide(logLevel.ERROR, LOADING).level).toBe('debug')
    // Retried away: after a quiet gap longer than quietMs, the same condition is a new streak.
    c.advance(30_001)
    expect(f.decide(logLevel.ERROR, NO_LEADER)).toMatchObject({
      level: 'debug',
      transient: { persistingMs: 0, occurrences: 1 },
    })
  })

  it('keeps other kafkajs errors at warn and its warn/info lines at debug, during start-up too', () => {
    const f = new KafkaLogFilter(opts)
    expect(f.decide(logLevel.ERROR, 'Crash: KafkaJSNonRetriableError: boom')).toEqual({ level: 'warn' })
    expect(f.decide(logLevel.ERROR, 'Response Produce(key: 0) Broker: Message too large')).toEqual({
      level: 'warn',
    })
    expect(f.decide(logLevel.WARN, 'Consumer group received unsubscribed topics')).toEqual({ level: 'debug' })
    expect(f.decide(logLevel.INFO, 'Starting')).toEqual({ level: 'debug' })
  })
})

describe('kafkaLogCreator', () => {
  it('writes kafkajs entries to pino at the decided level, with the error text and the streak when it warns', () => {
    const lines: Record<string, unknown>[] = []
    const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) })
    const c = clock()
    const f = new KafkaLogFilter({ now: c.now, ...opts })
    const log = kafkaLogCreator(logger, f)(logLevel.INFO)
    const entry = (level: logLevel, message: string, error?: string) => ({
      namespace: 'Connection',
      level,
      label: 'ERROR',
      log: { timestamp: 'x', logger: 'kafkajs', message, ...(error ? { error } : {}) },
    })
    log(
      entry(
        logLevel.ERROR,
        'Response GroupCoordinator(key: 10, version: 2)',
        'The group coordinator is not available',
      ),
    )
    for (let i = 0; i < 2; i++) {
      c.advance(30_000) // retried every 30 s: one condition that outlasts the 60 s start-up window
      log(
        entry(
          logLevel.ERROR,
          'Response GroupCoordinator(key: 10, version: 2)',
          'The group coordinator is not available',
        ),
      )
    }
    log(entry(logLevel.ERROR, 'Crash: KafkaJSNonRetriableError: boom'))
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [20, 'Response GroupCoordinator(key: 10, version: 2)'],
      [20, 'Response GroupCoordinator(key: 10, version: 2)'],
      [40, 'Response GroupCoordinator(key: 10, version: 2)'],
      [40, 'Crash: KafkaJSNonRetriableError: boom'],
    ])
    expect(lines[2]).toMatchObject({
      component: 'kafkajs',
      namespace: 'Connection',
      error: 'The group coordinator is not available',
      transient: 'GROUP_COORDINATOR_NOT_AVAILABLE',
      persistingMs: 60_000,
      occurrences: 3,
    })
    // kafkajs' own timestamp and logger name are not repeated.
    expect(lines[0]).not.toHaveProperty('timestamp')
    expect(lines[0]).not.toHaveProperty('logger')
  })
})
