/**
 * The browser of the console's tests: Debian's chromium (.ci/run installs it with apt when missing), or the one
 * CHROMIUM_PATH names. Missing, the tests fail with how to install it (they are never skipped).
 */
import { existsSync } from 'node:fs'

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium']

export function chromiumPath(): string {
  const configured = process.env.CHROMIUM_PATH
  if (configured !== undefined && configured !== '') {
    if (!existsSync(configured)) throw new Error(`CHROMIUM_PATH=${configured}: no such file`)
    return configured
  }
  const found = CANDIDATES.find((p) => existsSync(p))
  if (found === undefined)
    throw new Error(
      `no chromium at ${CANDIDATES.join(', ')}: install it (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH`,
    )
  return found
}
