/**
 * The package as a team installs it: `npm pack` of this checkout, installed from the tarball (dependencies from
 * the npm cache) into fresh ESM and CommonJS projects. On the machine's Node and every supported LTS line
 * (scripts/node-lines.ts): import the API, `kafka-decider/testing` and `kafka-decider/client`, run
 * `decider validate`, and run a worker from the installed package against the test broker for a few commands.
 * Once: typecheck a decider against the shipped .d.ts (both project kinds), `decider init` + `npm test` of the
 * scaffold, a load failure that names the file and what to do, and the dev-broker launcher from the package.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { allNodeBinaries } from '../../scripts/node-lines.ts'
import { ROOT } from '../cli/run-cli.ts'
import { npm, packTarball, run, type RunResult } from './npm.ts'

const brokers = inject('kafkaBrokers')
const work = mkdtempSync(path.join(tmpdir(), 'kd-package-'))
const lines = allNodeBinaries()
let tarball = ''

const DECIDER = readFileSync(path.join(ROOT, 'templates/service/src/account.ts'), 'utf8')

/** A fresh project of the given kind with the tarball, zod and TypeScript installed, and one decider. */
async function project(kind: 'esm' | 'cjs'): Promise<string> {
  const dir = path.join(work, kind)
  mkdirSync(path.join(dir, 'topologies'), { recursive: true })
  const pkg: Record<string, unknown> = { name: `kd-${kind}-project`, version: '1.0.0', private: true }
  if (kind === 'esm') pkg.type = 'module'
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg, null, 2))
  await npm(dir, ['install', tarball, 'zod@^4.1.0', 'typescript@~5.9.2', '@types/node@^22'])
  writeFileSync(path.join(dir, 'topologies', 'account.ts'), DECIDER)
  writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
      },
      include: ['topologies', 'use.ts'],
    }),
  )
  // Uses the public types: a wrong payload type must not compile (checked below with a broken copy).
  writeFileSync(
    path.join(dir, 'use.ts'),
    [
      "import account, { type AccountCommand } from './topologies/account.js'",
      "import { given } from 'kafka-decider/testing'",
      "import { CommandClient, type ReplyEnvelope } from 'kafka-decider/client'",
      "const cmd: AccountCommand = { type: 'Deposit', payload: { amount: 5 } }",
      "given(account, []).when({ type: 'OpenAccount', payload: { owner: 'Ada' } })",
      'export const shapes: [AccountCommand, typeof CommandClient, ReplyEnvelope | undefined] = [cmd, CommandClient, undefined]',
      '',
    ].join('\n'),
  )
  return dir
}

function topologyFile(dir: string, name: string): string {
  const file = path.join(dir, 'topologies', `${name}.yaml`)
  writeFileSync(file, `name: ${name}\ndecider: ./account.ts\npartitions: 1\nserialization: json\n`)
  return file
}

function importScript(kind: 'esm' | 'cjs'): string[] {
  const body =
    kind === 'esm'
      ? "const k = await import('kafka-decider'); const t = await import('kafka-decider/testing'); const c = await import('kafka-decider/client');"
      : "const k = require('kafka-decider'); const t = require('kafka-decider/testing'); const c = require('kafka-decider/client');"
  const check =
    "console.log([typeof k.defineDecider, typeof k.reject, typeof t.given, typeof t.TopologyTestDriver, typeof c.CommandClient].join(','))"
  return kind === 'esm' ? ['--input-type=module', '-e', `${body} ${check}`] : ['-e', `${body} ${check}`]
}

/** Starts a worker from the installed package and waits (bounded) until it is ready; returns it. */
async function startWorker(
  node: string,
  dir: string,
  topology: string,
): Promise<{ proc: ChildProcess; out: () => string }> {
  let out = ''
  const proc = spawn(node, ['node_modules/kafka-decider/bin/decider.js', 'run', topology], {
    cwd: dir,
    env: {
      ...process.env,
      KAFKA_BROKERS: brokers,
      DECIDER_STATE_DIR: path.join(dir, '.state'),
      DECIDER_HTTP_PORT: '0',
      DECIDER_LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const deadline = Date.now() + 60_000
  while (!/topology started/.test(out)) {
    if (proc.exitCode !== null) throw new Error(`worker exited ${proc.exitCode}:\n${out}`)
    if (Date.now() > deadline) throw new Error(`worker not ready in 60 s:\n${out}`)
    await new Promise((r) => setTimeout(r, 250))
  }
  return { proc, out: () => out }
}

async function stopWorker(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null) return proc.exitCode
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
  proc.kill('SIGTERM')
  const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000)
  const code = await exited
  clearTimeout(timer)
  return code
}

const projects: Record<'esm' | 'cjs', string> = { esm: '', cjs: '' }

beforeAll(async () => {
  tarball = await packTarball(work)
  projects.esm = await project('esm')
  projects.cjs = await project('cjs')
}, 600_000)

afterAll(() => rmSync(work, { recursive: true, force: true }))

describe('the packed tarball', () => {
  it('holds the compiled package only: no sources, tests, benches or repository tooling', async () => {
    const list = await run('tar', ['tzf', tarball], work)
    const files = list.stdout
      .trim()
      .split('\n')
      .map((f) => f.replace(/^package\//, ''))
    expect(files).toContain('dist/index.js')
    expect(files).toContain('dist/index.d.ts')
    expect(files).toContain('dist/testing/index.js')
    expect(files).toContain('dist/client/index.js')
    expect(files).toContain('bin/decider.js')
    expect(files).toContain('LICENSE')
    expect(files).toContain('README.md')
    expect(files).toContain('topologies/topology.schema.json')
    expect(files).toContain('topologies/projection.schema.json')
    expect(files).toContain('config/kafka/pom.xml')
    expect(files).toContain('templates/service/package.json')
    // The web console, built before publish (npm run build): served by the worker from the package, no CDN.
    for (const f of ['index.html', 'app.js', 'style.css']) expect(files).toContain(`dist/console/${f}`)
    const tops = new Set(files.map((f) => f.split('/')[0]))
    expect([...tops].sort()).toEqual(
      ['LICENSE', 'README.md', 'bin', 'config', 'dist', 'package.json', 'templates', 'topologies'].sort(),
    )
    expect(files.filter((f) => f.startsWith('topologies/')).sort()).toEqual([
      'topologies/projection.schema.json',
      'topologies/topology.schema.json',
    ])
    expect(files.filter((f) => f.startsWith('config/'))).toEqual(['config/kafka/pom.xml'])
    expect(files.filter((f) => /\.test\.|\/test\//.test(f) && !f.startsWith('templates/'))).toEqual([])
  })

  for (const kind of ['esm', 'cjs'] as const) {
    it(`typechecks a decider and its uses against the shipped .d.ts (${kind} project)`, async () => {
      const dir = projects[kind]
      const ok = await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], dir)
      expect(ok.stdout + ok.stderr).toBe('')
      expect(ok.code).toBe(0)
      // Teeth: a payload of the wrong type is a compile error through the shipped types.
      const broken = path.join(dir, 'topologies', 'broken.ts')
      writeFileSync(
        broken,
        "import a from './account.js'\nexport const x: number = a.initialState().balance + ''\n",
      )
      const bad = await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], dir)
      rmSync(broken)
      expect(bad.code).not.toBe(0)
      expect(bad.stdout).toMatch(/broken\.ts.*TS2322/)
    })
  }
})

describe.each(lines)('Node $version', ({ version, bin }) => {
  for (const kind of ['esm', 'cjs'] as const) {
    it(`${kind} project: imports the API, validates, runs a worker that answers a command`, async () => {
      const dir = projects[kind]
      const imported = await run(bin, importScript(kind), dir)
      expect(imported.stderr).toBe('')
      expect(imported.stdout.trim()).toBe('function,function,function,function,function')

      const name = `pkg-${kind}-${version.split('.')[0]}`
      const topology = topologyFile(dir, name)
      const cli = (args: string[], timeoutMs?: number): Promise<RunResult> =>
        run(
          bin,
          ['node_modules/kafka-decider/bin/decider.js', ...args],
          dir,
          { KAFKA_BROKERS: brokers },
          timeoutMs,
        )
      const validated = await cli(['validate', topology])
      expect(validated.stdout).toContain(`ok (topology ${name}, commands: OpenAccount, Deposit, Withdraw)`)
      expect(validated.code).toBe(0)

      const worker = await startWorker(bin, dir, topology)
      try {
        const sent = await cli(
          [
            'send',
            topology,
            '--type',
            'OpenAccount',
            '--id',
            'acc-1',
            '--payload',
            '{"owner":"Ada"}',
            '--wait',
            '--timeout',
            '60000',
          ],
          90_000,
        )
        expect(sent.stdout + sent.stderr).toMatch(/"status":\s*"accepted"/)
        expect(sent.code).toBe(0)
        // The installed package's worker serves the console's files from the package.
        const http = /"url":"(http:\/\/[^"]+)"/.exec(worker.out())?.[1]
        expect(http, worker.out().slice(-2000)).toBeDefined()
        for (const [file, type] of [
          ['', 'text/html'],
          ['app.js', 'text/javascript'],
        ] as const) {
          const page = await fetch(`${http}/console/${file}`, { signal: AbortSignal.timeout(10_000) })
          expect([page.status, page.headers.get('content-type')?.split(';')[0]], file).toEqual([200, type])
        }
        // A few more, one of each outcome the smoke can tell apart. `send --file` sends in parallel lanes, so each
        // outcome holds in any order: 1000 is more than acc-1 can ever hold here; d1 again waits for d1.
        const file = path.join(dir, 'commands.ndjson')
        const line = (aggregateId: string, type: string, payload: object, commandId: string) =>
          JSON.stringify({ aggregateId, type, payload, commandId })
        writeFileSync(
          file,
          [
            line('acc-1', 'Deposit', { amount: 100 }, 'd1'),
            line('acc-1', 'Withdraw', { amount: 1000 }, 'w1'),
            line('acc-1', 'Deposit', { amount: 100 }, 'd1'),
            line('acc-2', 'OpenAccount', { owner: 'Grace' }, 'o2'),
          ].join('\n') + '\n',
        )
        const many = await cli(['send', topology, '--file', file, '--wait', '--timeout', '60000'], 90_000)
        expect(JSON.parse(many.stdout), many.stderr).toEqual({
          sent: 4,
          replies: { accepted: 2, rejected: 1, duplicate: 1 },
        })
        expect(many.code).toBe(1) // exit 1: not every command was accepted (the rejected withdrawal)
      } finally {
        expect(await stopWorker(worker.proc), worker.out()).toBe(0)
      }
    })
  }
})

describe('from the installed package', () => {
  it('the container image layout (package + sample topologies, no sources) loads the samples from dist/', async () => {
    // What the Dockerfile's final stage holds: the package's files, production node_modules, topologies/.
    const image = path.join(work, 'image')
    mkdirSync(image)
    const untar = await run('tar', ['xzf', tarball, '-C', image, '--strip-components=1'], work)
    expect(untar.code).toBe(0)
    cpSync(path.join(ROOT, 'topologies'), path.join(image, 'topologies'), { recursive: true })
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(image, 'node_modules'))
    for (const t of ['bank-account', 'inventory']) {
      const r = await run(process.execPath, ['bin/decider.js', 'validate', `topologies/${t}.yaml`], image)
      expect(r.stderr).toBe('')
      expect(r.stdout).toContain(`topologies/${t}.yaml: ok (topology ${t}`)
    }
  })

  it('`decider init` scaffolds a service whose `npm test` passes out of the box', async () => {
    const created = await run(
      process.execPath,
      ['node_modules/kafka-decider/bin/decider.js', 'init', 'demo'],
      projects.esm,
    )
    expect(created.code).toBe(0)
    const demo = path.join(projects.esm, 'demo')
    for (const f of [
      'package.json',
      'tsconfig.json',
      'src/account.ts',
      'test/account.test.ts',
      'topologies/demo.yaml',
      'config/worker.yaml',
      'Dockerfile',
      'compose.yaml',
      '.gitignore',
    ])
      expect(created.stdout).toContain(f)
    expect(readFileSync(path.join(demo, 'topologies/demo.yaml'), 'utf8')).toMatch(
      /^# yaml-language-server: \$schema=/,
    )
    await npm(demo, ['install', tarball])
    const test = await run('npm', ['test'], demo, {}, 180_000)
    expect(test.stdout).toMatch(/Tests\s+.*3 passed/)
    expect(test.code).toBe(0)
    const typecheck = await run('npm', ['run', 'typecheck'], demo)
    expect(typecheck.code).toBe(0)
    // Not into a directory that has files.
    const again = await run(
      process.execPath,
      ['node_modules/kafka-decider/bin/decider.js', 'init', 'demo'],
      projects.esm,
    )
    expect(again.code).toBe(2)
    expect(again.stderr).toMatch(/is not empty; choose a new directory, or pass --force/)
  })

  it('a decider that cannot load names the file and what to do', async () => {
    const dir = projects.cjs
    writeFileSync(
      path.join(dir, 'topologies', 'missing-dep.ts'),
      "import x from 'not-installed-pkg'\nexport default x\n",
    )
    writeFileSync(
      path.join(dir, 'topologies', 'missing-dep.yaml'),
      'name: missing-dep\ndecider: ./missing-dep.ts\n',
    )
    const r = await run(
      process.execPath,
      ['node_modules/kafka-decider/bin/decider.js', 'validate', 'topologies/missing-dep.yaml'],
      dir,
    )
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(path.join(dir, 'topologies', 'missing-dep.ts'))
    expect(r.stderr).toMatch(/not-installed-pkg/)
    expect(r.stderr).toMatch(/A module the decider imports \(not-installed-pkg\) is missing: install it/)
  })

  it('starts, reports and stops the local dev broker (`decider kafka`), jars from the cache', async () => {
    const dir = projects.esm
    const env = { DECIDER_KAFKA_CACHE: path.join(ROOT, '.cache', 'kafka'), KAFKA_PORT: '0' }
    const kafka = (args: string[]) =>
      run(
        process.execPath,
        ['node_modules/kafka-decider/bin/decider.js', 'kafka', ...args],
        dir,
        env,
        120_000,
      )
    expect((await kafka(['status'])).code).toBe(1)
    const started = await kafka(['start', '--heap', '256'])
    try {
      expect(started.stdout + started.stderr).toMatch(/Kafka started at 127\.0\.0\.1:\d+/)
      expect(started.code).toBe(0)
      const status = await kafka(['status'])
      expect(status.stdout).toMatch(/Kafka running at/)
      expect(status.stdout).toContain(path.join(dir, '.kafka'))
    } finally {
      const stopped = await kafka(['stop'])
      expect(stopped.stdout).toMatch(/Kafka stopped/)
    }
  })
})
