import { existsSync, readFileSync } from 'node:fs'
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

/** Default directory of the detached dev broker (`npm run kafka:start`). */
export function defaultDaemonDir(root: string = projectRoot()): string {
  return join(root, '.kafka')
}
