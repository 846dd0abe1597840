/**
 * The Kafka Streams baseline app (bench/kstreams/, Java): its Maven build, cached under .cache/kstreams/, and its
 * JVM process. The build is keyed by a hash of the pom, the Java sources and the Kafka version of
 * config/kafka/pom.xml (the broker's): it runs again only when one of them changes.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { checkJava, checkMaven, kafkaVersion } from '../../src/devkafka/index.ts'
import { run, tailLines } from '../../src/devkafka/exec.ts'
import { track } from '../../src/devkafka/processes.ts'
import type { WorkerProcess } from '../../scripts/eos/bank.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')
const APP_DIR = path.join(ROOT, 'bench/kstreams')
const POM = path.join(APP_DIR, 'pom.xml')
const MAIN_CLASS = 'dev.kafkadecider.bench.BankStreams'
const JAR = 'kstreams-bank-baseline-1.jar'
const MARKER = '.built'
/** The Maven build (first time: downloads kafka-streams, RocksDB JNI, msgpack-core) is bounded by this. */
export const BUILD_TIMEOUT_MS = 10 * 60_000

export interface KstreamsApp {
  kafkaVersion: string
  dir: string
  classpath: string
  /** Whether this call ran Maven (false: the cached build was used). */
  built: boolean
}

function sourceFiles(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string, depth: number) => {
    if (depth > 20) return
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p, depth + 1)
      else out.push(p)
    }
  }
  walk(path.join(dir, 'src'), 0)
  return out
}

/** Hash of what the build depends on: the pom, every file under src/, and the Kafka version. */
export function buildKey(version: string): string {
  const h = createHash('sha256').update(`kafka ${version}\n`)
  for (const f of [POM, ...sourceFiles(APP_DIR)])
    h.update(`${path.relative(APP_DIR, f)}\n`).update(readFileSync(f))
  return h.digest('hex').slice(0, 16)
}

/**
 * Builds the app with Maven into .cache/kstreams/<kafka version>-<hash>/ (jar + runtime dependencies in libs/),
 * unless that build is there already. Concurrent first calls are safe (each builds into its own directory, which
 * is then renamed into place).
 */
export async function ensureKstreamsApp(log: (m: string) => void = () => undefined): Promise<KstreamsApp> {
  const version = kafkaVersion(ROOT)
  const dir = path.join(ROOT, '.cache', 'kstreams', `${version}-${buildKey(version)}`)
  const app = (built: boolean): KstreamsApp => ({
    kafkaVersion: version,
    dir,
    classpath: [path.join(dir, JAR), path.join(dir, 'libs', '*')].join(path.delimiter),
    built,
  })
  if (existsSync(path.join(dir, MARKER))) return app(false)
  await checkJava()
  await checkMaven()
  mkdirSync(path.dirname(dir), { recursive: true })
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`
  const args = [
    '-q',
    '-B',
    '-f',
    POM,
    `-Dkafka.version=${version}`,
    `-Dkstreams.buildDir=${tmp}`,
    'package',
    'dependency:copy-dependencies',
    `-DoutputDirectory=${path.join(tmp, 'libs')}`,
    '-DincludeScope=runtime',
  ]
  log(`bench: building the Kafka Streams ${version} baseline app with Maven into ${dir} ...`)
  const r = await run('mvn', args, { cwd: ROOT, timeoutMs: BUILD_TIMEOUT_MS })
  const ok =
    r.code === 0 &&
    existsSync(path.join(tmp, JAR)) &&
    existsSync(path.join(tmp, 'libs', `kafka-streams-${version}.jar`))
  if (!ok) {
    rmSync(tmp, { recursive: true, force: true })
    throw new Error(
      `bench: building the Kafka Streams baseline failed (exit ${r.code ?? r.signal}).\n` +
        `Command: mvn ${args.join(' ')}\nMaven output:\n${tailLines(r.output, 60)}`,
    )
  }
  writeFileSync(path.join(tmp, MARKER), `${new Date().toISOString()}\n`)
  if (existsSync(path.join(dir, MARKER))) {
    rmSync(tmp, { recursive: true, force: true })
    return app(false)
  }
  rmSync(dir, { recursive: true, force: true })
  try {
    renameSync(tmp, dir)
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true })
    if (!existsSync(path.join(dir, MARKER))) throw err
  }
  return app(true)
}

export interface KstreamsProcess extends WorkerProcess {
  /** Resolves when the app printed `STATE RUNNING` (rejects when it exits first). */
  running: Promise<void>
}

export interface KstreamsConfig {
  brokers: string[]
  applicationId: string
  commands: string
  events: string
  replies: string
  stateDir: string
  dedupe: number
  heapMb?: number
  /** commit.interval.ms (undefined: Kafka Streams' exactly-once default, 100 ms). */
  commitIntervalMs?: number
}

/** Starts the app's JVM (tracked: SIGKILLed if this process exits without stopping it). */
export function startKstreams(app: KstreamsApp, c: KstreamsConfig): KstreamsProcess {
  const heap = c.heapMb ?? 1024
  const proc = spawn('java', [`-Xmx${heap}m`, '-cp', app.classpath, MAIN_CLASS], {
    cwd: ROOT,
    env: {
      ...process.env,
      KS_BOOTSTRAP: c.brokers.join(','),
      KS_APPLICATION_ID: c.applicationId,
      KS_COMMANDS: c.commands,
      KS_EVENTS: c.events,
      KS_REPLIES: c.replies,
      KS_STATE_DIR: c.stateDir,
      KS_DEDUPE: String(c.dedupe),
      KS_COMMIT_INTERVAL_MS: c.commitIntervalMs === undefined ? '' : String(c.commitIntervalMs),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  track(proc)
  let out = ''
  let onRunning!: () => void
  let onFail!: (e: Error) => void
  const running = new Promise<void>((res, rej) => ((onRunning = res), (onFail = rej)))
  running.catch(() => undefined)
  const keep = (d: Buffer) => {
    out += d.toString()
    if (out.length > 2_000_000) out = out.slice(-1_000_000)
    if (out.includes('STATE RUNNING')) onRunning()
  }
  proc.stdout.on('data', keep)
  proc.stderr.on('data', keep)
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
  void exited.then((code) =>
    onFail(new Error(`the Kafka Streams app exited (${code}):\n${tailLines(out, 40)}`)),
  )
  proc.on('error', (e) => onFail(e))
  return {
    proc,
    output: () => out,
    exited,
    kill: (signal = 'SIGTERM') => void proc.kill(signal),
    running,
  }
}
