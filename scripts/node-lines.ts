/**
 * The Node.js LTS lines kafka-decider supports besides the machine's own Node, and their binaries.
 * Binaries come from the npm registry (the `node-<platform>-<arch>` packages hold `bin/node`) and are cached
 * under .cache/node/<version>/, so CI downloads nothing else and a second run downloads nothing.
 *
 *   node --import tsx scripts/node-lines.ts fetch        download the missing binaries, print their paths
 *   node --import tsx scripts/node-lines.ts unit [ARGS]  run the unit tests on every line (exit 1 if any fails);
 *                                                        ARGS go to vitest (CI: --maxWorkers=1)
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** Pinned so that CI is repeatable; bump with the lines' releases. */
export const NODE_LINES = ['22.23.3', '24.21.0', '26.10.0'] as const

const root = fileURLToPath(new URL('..', import.meta.url))
const cacheDir = path.join(root, '.cache', 'node')

/** Path of the cached `node` binary of `version` (downloaded from the npm registry when missing). */
export function nodeBinary(version: string): string {
  const dir = path.join(cacheDir, version)
  const bin = path.join(dir, 'bin', 'node')
  if (existsSync(bin)) return bin
  const pkg = `node-${process.platform}-${process.arch}@${version}`
  const tmp = path.join(cacheDir, `tmp-${version}-${process.pid}`)
  mkdirSync(tmp, { recursive: true })
  try {
    execFileSync('npm', ['pack', pkg, '--silent', '--pack-destination', tmp], {
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 5 * 60_000,
    })
    const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'))
    if (!tarball) throw new Error(`npm pack ${pkg} produced no tarball`)
    execFileSync('tar', ['xzf', tarball], { cwd: tmp, timeout: 5 * 60_000 })
    rmSync(dir, { recursive: true, force: true })
    renameSync(path.join(tmp, 'package'), dir)
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
  if (!existsSync(bin)) throw new Error(`${pkg} has no bin/node`)
  return bin
}

/** Every supported line's binary, the machine's Node first. */
export function allNodeBinaries(): { version: string; bin: string }[] {
  return [
    { version: process.versions.node, bin: process.execPath },
    ...NODE_LINES.map((version) => ({ version, bin: nodeBinary(version) })),
  ]
}

function main(command: string | undefined, vitestArgs: string[] = []): number {
  if (command === 'fetch') {
    for (const v of NODE_LINES) console.log(`node ${v}: ${nodeBinary(v)}`)
    return 0
  }
  if (command === 'unit') {
    const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs')
    const failed: string[] = []
    for (const v of NODE_LINES) {
      const bin = nodeBinary(v)
      console.log(`node-lines: unit tests on Node ${v}`)
      const outputFile = path.join(root, 'test-results', `vitest-node-${v}.json`)
      const r = spawnSync(
        bin,
        [
          vitest,
          'run',
          '--project',
          'unit',
          '--reporter=dot',
          '--reporter=json',
          `--outputFile.json=${outputFile}`,
          ...vitestArgs,
        ],
        { cwd: root, stdio: 'inherit', timeout: 15 * 60_000 },
      )
      if (r.status !== 0) failed.push(v)
    }
    if (failed.length > 0) console.error(`node-lines: unit tests failed on Node ${failed.join(', ')}`)
    return failed.length === 0 ? 0 : 1
  }
  console.error('usage: node-lines.ts fetch|unit [vitest args]')
  return 2
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  process.exitCode = main(process.argv[2], process.argv.slice(3))
}
