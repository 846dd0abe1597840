import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Relative path of the Maven project that resolves the broker jars. */
export const POM_RELATIVE_PATH = join('config', 'kafka', 'pom.xml')

/**
 * The project root: the nearest ancestor of this module that holds config/kafka/pom.xml.
 * Found relative to the module file so it does not depend on the current working directory.
 */
export function projectRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(from)
  for (let i = 0; i < 50; i++) {
    if (existsSync(join(dir, POM_RELATIVE_PATH))) return dir
    const parent = dirname(dir)
    if (parent === dir) break
    dir = parent
  }
  throw new Error(`devkafka: cannot find ${POM_RELATIVE_PATH} in any parent directory of ${from}`)
}

/** The Kafka version pinned in config/kafka/pom.xml (single source of truth). */
export function kafkaVersion(root: string = projectRoot()): string {
  const pom = readFileSync(join(root, POM_RELATIVE_PATH), 'utf8')
  const m = /<kafka\.version>\s*([^<\s]+)\s*<\/kafka\.version>/.exec(pom)
  if (!m?.[1]) throw new Error(`devkafka: no <kafka.version> property in ${join(root, POM_RELATIVE_PATH)}`)
  return m[1]
}

/**
 * True in a source checkout of kafka-decider (this repository), false in an installed package
 * (node_modules/kafka-decider ships only dist/, no src/).
 */
export function isSourceCheckout(root: string = projectRoot()): boolean {
  return existsSync(join(root, 'src', 'devkafka'))
}

/**
 * Default directory of the detached dev broker (`decider kafka start`): `.kafka` in this repository when run
 * from a source checkout, else `.kafka` in the current directory (the user's project).
 */
export function defaultDaemonDir(root: string = projectRoot()): string {
  return isSourceCheckout(root) ? join(root, '.kafka') : resolve('.kafka')
}

/**
 * Where the broker jars are cached: $DECIDER_KAFKA_CACHE, else `.cache/kafka` in a source checkout, else the
 * user's cache ($XDG_CACHE_HOME or ~/.cache, then kafka-decider/kafka), so that reinstalling the package does not
 * download them again and a read-only node_modules still works.
 */
export function defaultJarCacheDir(root: string = projectRoot()): string {
  const env = process.env.DECIDER_KAFKA_CACHE
  if (env) return resolve(env)
  if (isSourceCheckout(root)) return join(root, '.cache', 'kafka')
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache')
  return join(base, 'kafka-decider', 'kafka')
}
