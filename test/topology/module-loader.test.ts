/** Loading a topology's decider module: a failure names the file and says what to do. */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/errors.ts'
import { importUserModule, loadHint } from '../../src/topology/module-loader.ts'

const err = (message: string, code?: string): Error => Object.assign(new Error(message), { code })

describe('importUserModule', () => {
  it('a missing file: a ConfigError naming the topology, the module path and the fix', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kd-loader-'))
    const missing = path.join(dir, 'nope.js')
    const e = await importUserModule(missing, 'topologies/x.yaml').catch((x: unknown) => x)
    expect(e).toBeInstanceOf(ConfigError)
    expect((e as Error).message).toContain(`topologies/x.yaml: cannot load decider module ${missing}`)
    expect((e as Error).message).toContain('The file does not exist: fix the `decider:` path')
  })

  it('a module that throws while loading', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kd-loader-'))
    const file = path.join(dir, 'throws.mjs')
    writeFileSync(file, "throw new Error('boom at load')\n")
    const e = (await importUserModule(file, 't.yaml').catch((x: unknown) => x)) as Error
    expect(e.message).toMatch(/boom at load/)
    expect(e.message).toMatch(/The module threw while loading: run it with `node`/)
  })

  it('loads a JavaScript module as it is', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kd-loader-'))
    const file = path.join(dir, 'ok.mjs')
    writeFileSync(file, 'export default { hello: 1 }\n')
    expect((await importUserModule(file, 't.yaml')).default).toEqual({ hello: 1 })
  })
})

describe('loadHint', () => {
  const file = '/srv/app/topologies/account.ts'
  it.each([
    [err(`Cannot find module '${file}' imported from /x`, 'ERR_MODULE_NOT_FOUND'), /file does not exist/],
    [err(`Cannot find module '${pathToFileURL(file).href}'`, 'ERR_MODULE_NOT_FOUND'), /file does not exist/],
    [
      err("Cannot find package 'kafka-decider' imported from /srv", 'ERR_MODULE_NOT_FOUND'),
      /npm install kafka-decider/,
    ],
    [
      err(`Cannot find module 'left-pad'\nRequire stack:\n- ${file}`, 'MODULE_NOT_FOUND'),
      /\(left-pad\) is missing/,
    ],
    [new SyntaxError('Unexpected token'), /does not parse/],
    [err('require() of ES Module', 'ERR_REQUIRE_ESM'), /Node 20\.19\+ or 22\.12\+/],
  ])('%s', (e, hint) => {
    expect(loadHint(e, file)).toMatch(hint)
  })
})
