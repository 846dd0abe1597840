import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ensureKafkaJars } from '../../src/devkafka/resolve.ts'
import { kafkaVersion } from '../../src/devkafka/paths.ts'

// Unit tier (no broker, no download): ensureKafkaJars reuses a resolved cache without running anything, and when it
// must resolve, it says what to install if java/mvn are missing and shows Maven's output when resolution fails.

const originalPath = process.env.PATH
let work: string

function binDir(name: string, tools: Record<string, string>): string {
  const dir = join(work, name)
  mkdirSync(dir, { recursive: true })
  for (const [tool, target] of Object.entries(tools)) {
    if (target.startsWith('#!')) {
      writeFileSync(join(dir, tool), target)
      chmodSync(join(dir, tool), 0o755)
    } else {
      symlinkSync(target, join(dir, tool))
    }
  }
  return dir
}

function which(tool: string): string | undefined {
  try {
    return execFileSync('/bin/sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

describe('ensureKafkaJars', () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'devkafka-resolve-'))
  })
  afterEach(() => {
    process.env.PATH = originalPath
  })
  afterAll(() => {
    rmSync(work, { recursive: true, force: true })
  })

  it('reuses a cache with the success marker without running java or mvn', async () => {
    const cacheDir = join(work, 'cache-ok')
    const versionDir = join(cacheDir, kafkaVersion())
    mkdirSync(join(versionDir, 'libs'), { recursive: true })
    writeFileSync(join(versionDir, '.resolved'), 'test\n')
    process.env.PATH = binDir('empty', {})
    const jars = await ensureKafkaJars({ cacheDir })
    expect(jars.libsDir).toBe(join(versionDir, 'libs'))
    expect(jars.classpath).toBe(join(versionDir, 'libs', '*'))
  })

  it('tells what to install when java is missing', async () => {
    process.env.PATH = binDir('nothing', {})
    await expect(ensureKafkaJars({ cacheDir: join(work, 'cache-nojava') })).rejects.toThrow(
      /java -version.*JDK 17/s,
    )
  })

  it.skipIf(!which('java'))('tells what to install when mvn is missing', async () => {
    process.env.PATH = binDir('java-only', { java: which('java') ?? '' })
    await expect(ensureKafkaJars({ cacheDir: join(work, 'cache-nomvn') })).rejects.toThrow(
      /mvn -v.*apt-get install maven/s,
    )
  })

  it.skipIf(!which('java') || !which('sh'))('shows Maven’s output when resolution fails', async () => {
    const fakeMvn = `#!/bin/sh
if [ "$1" = "-v" ]; then echo "Apache Maven 3.9.9 (fake)"; exit 0; fi
echo "[ERROR] Failed to execute goal on project local-kafka-broker: Could not resolve dependencies (fake)"
exit 1
`
    process.env.PATH = binDir('fake-mvn', { java: which('java') ?? '', mvn: fakeMvn })
    const cacheDir = join(work, 'cache-fail')
    await expect(ensureKafkaJars({ cacheDir })).rejects.toThrow(
      /Maven output:\n.*Could not resolve dependencies \(fake\)/s,
    )
  })
})
