/** The one error model: every error class of src/ extends KafkaDeciderError and has a stable code and a recovery. */
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import * as errors from '../src/errors.ts'
import { KafkaDeciderError, recoveryOf } from '../src/errors.ts'

const RECOVERIES = ['task-migrated', 'task-corrupted', 'retriable', 'command', 'fatal', 'usage']

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(path.join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [path.join(dir, e.name)]
        : [],
  )
}

describe('error model', () => {
  const classes = Object.entries(errors).filter(
    ([, v]) => typeof v === 'function' && v.prototype instanceof KafkaDeciderError,
  ) as [string, new (m: string) => KafkaDeciderError][]

  it('every error class in src/errors.ts extends KafkaDeciderError, names itself, and has a snake_case code and a recovery', () => {
    expect(classes.length).toBeGreaterThan(15)
    const codes = new Map<string, string>()
    for (const [name, Cls] of classes) {
      const e = new Cls('boom')
      expect(e, name).toBeInstanceOf(KafkaDeciderError)
      expect(e.name).toBe(name)
      expect(e.code, name).toMatch(/^[a-z]+(_[a-z]+)*$/)
      expect(RECOVERIES, name).toContain(e.recovery)
      if (!(e instanceof errors.ConfigError) || name === 'ConfigError') {
        expect(codes.get(e.code), `${name} reuses the code of ${codes.get(e.code)}`).toBeUndefined()
      }
      codes.set(e.code, name)
    }
  })

  it('no other file in src/ declares an error class (they all live in src/errors.ts)', () => {
    const offenders: string[] = []
    for (const file of sources('src')) {
      if (file === path.join('src', 'errors.ts')) continue
      const text = readFileSync(file, 'utf8')
      for (const m of text.matchAll(/class\s+(\w+)\s+extends\s+(\w+)/g)) {
        if (/Error$|Crash$/.test(m[1]!) || /Error$/.test(m[2]!)) offenders.push(`${file}: ${m[0]}`)
      }
    }
    expect(offenders).toEqual([])
  })

  it('errors that are not ours are fatal unless wrapped', () => {
    expect(recoveryOf(new Error('x'))).toBe('fatal')
    expect(recoveryOf('a string')).toBe('fatal')
    expect(recoveryOf(new errors.BatchAbortedError('x'))).toBe('retriable')
    expect(recoveryOf(new errors.TaskFencedError('x'))).toBe('task-migrated')
  })
})
