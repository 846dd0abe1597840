import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run, tailLines } from './exec.ts'
import { defaultJarCacheDir, kafkaVersion, POM_RELATIVE_PATH, projectRoot } from './paths.ts'

export interface KafkaJars {
  version: string
  /** Directory holding every runtime jar of the broker. */
  libsDir: string
  /** Java classpath (`<libsDir>/*`). */
  classpath: string
}

export interface EnsureKafkaJarsOptions {
  /** Cache root; default defaultJarCacheDir() (`.cache/kafka` in this repository). Jars go to `<cacheDir>/<version>/libs`. */
  cacheDir?: string
  /** Called with progress messages (e.g. "resolving with Maven..."). */
  log?: (msg: string) => void
}

const MARKER = '.resolved'

/** Fails with a helpful message when `java` (17+) is not installed. */
export async function checkJava(): Promise<void> {
  const r = await run('java', ['-version'], { timeoutMs: 30_000 })
  if (r.spawnError || r.code !== 0) {
    throw new Error(
      'devkafka: `java -version` failed — a JDK 17 or newer is required to run the local Apache Kafka broker.\n' +
        'Install one, e.g. `apt-get install openjdk-17-jdk-headless` (Debian/Ubuntu) or `brew install openjdk@17` (macOS),\n' +
        'or run the broker with `docker compose up kafka` instead.\n' +
        (r.spawnError ? `(${r.spawnError.message})` : tailLines(r.output, 10)),
    )
  }
  const m = /version "(\d+)/.exec(r.output)
  const major = m?.[1] ? Number(m[1]) : NaN
  if (Number.isFinite(major) && major < 17) {
    throw new Error(
      `devkafka: Apache Kafka 4 needs Java 17 or newer, but \`java -version\` reports:\n${tailLines(r.output, 5)}`,
    )
  }
}

/** Fails with a helpful message when Maven is not installed. */
export async function checkMaven(): Promise<void> {
  const r = await run('mvn', ['-v'], { timeoutMs: 60_000 })
  if (r.spawnError || r.code !== 0) {
    throw new Error(
      'devkafka: `mvn -v` failed — Apache Maven is needed once to download the Apache Kafka broker jars from Maven Central.\n' +
        'Install it, e.g. `apt-get install maven` (Debian/Ubuntu) or `brew install maven` (macOS).\n' +
        (r.spawnError ? `(${r.spawnError.message})` : tailLines(r.output, 10)),
    )
  }
}

/**
 * Makes sure the Apache Kafka broker jars are in the local cache and returns where they are.
 * The first call resolves them with Maven (config/kafka/pom.xml); a marker file written after a successful
 * resolution makes later calls return immediately. Concurrent first calls are safe: each resolves into its own
 * temporary directory which is then renamed into place.
 */
export async function ensureKafkaJars(opts: EnsureKafkaJarsOptions = {}): Promise<KafkaJars> {
  const root = projectRoot()
  const version = kafkaVersion(root)
  const versionDir = join(opts.cacheDir ?? defaultJarCacheDir(root), version)
  const libsDir = join(versionDir, 'libs')
  const result: KafkaJars = { version, libsDir, classpath: join(libsDir, '*') }
  if (existsSync(join(versionDir, MARKER)) && existsSync(libsDir)) return result

  await checkJava()
  await checkMaven()
  mkdirSync(versionDir, { recursive: true })
  const tmpDir = join(versionDir, `libs.tmp-${process.pid}-${Date.now()}`)
  opts.log?.(`devkafka: resolving Apache Kafka ${version} jars from Maven Central into ${libsDir} ...`)
  const pom = join(root, POM_RELATIVE_PATH)
  const r = await run(
    'mvn',
    [
      '-q',
      '-B',
      '-f',
      pom,
      'dependency:copy-dependencies',
      `-DoutputDirectory=${tmpDir}`,
      '-DincludeScope=runtime',
    ],
    { cwd: root, timeoutMs: 10 * 60_000 },
  )
  const jars = existsSync(tmpDir) ? readdirSync(tmpDir).filter((f) => f.endsWith('.jar')) : []
  if (r.code !== 0 || !jars.some((j) => j.startsWith('kafka_'))) {
    rmSync(tmpDir, { recursive: true, force: true })
    throw new Error(
      `devkafka: resolving the Kafka broker jars with Maven failed (exit ${r.code ?? r.signal}).\n` +
        `Command: mvn -q -B -f ${pom} dependency:copy-dependencies -DoutputDirectory=${tmpDir} -DincludeScope=runtime\n` +
        `Maven output:\n${tailLines(r.output, 60)}`,
    )
  }
  if (existsSync(join(versionDir, MARKER)) && existsSync(libsDir)) {
    // Someone else finished first; theirs is as good as ours.
    rmSync(tmpDir, { recursive: true, force: true })
    return result
  }
  rmSync(libsDir, { recursive: true, force: true })
  try {
    renameSync(tmpDir, libsDir)
  } catch (err) {
    rmSync(tmpDir, { recursive: true, force: true })
    if (!existsSync(libsDir)) throw err
  }
  writeFileSync(join(versionDir, MARKER), `${new Date().toISOString()} ${jars.length} jars\n`)
  return result
}
