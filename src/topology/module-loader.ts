/**
 * Loads the module a topology names (the user's decider), in ESM and CommonJS projects alike.
 * JavaScript loads with Node's own import(). TypeScript (.ts, .mts, .cts, .tsx) loads through tsx, registered
 * once for this process (its ESM and CommonJS hooks): Node's own type stripping is missing on Node 20, partial on
 * 22 (no enums, no parameter properties, no extension-less imports, no tsconfig paths) and never applies under
 * node_modules, so tsx is the one loader that takes every TypeScript decider as its author wrote it.
 */
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { ConfigError } from '../errors.ts'

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts', '.tsx'])
let tsxRegistered: Promise<void> | undefined
/** Set by bin/decider.js when it has registered tsx already (running from a source checkout). */
const REGISTERED = Symbol.for('kafka-decider.tsx')

async function registerTsx(): Promise<void> {
  if ((globalThis as Record<symbol, unknown>)[REGISTERED] === true) return
  const esm = await import('tsx/esm/api')
  const cjs = await import('tsx/cjs/api')
  esm.register()
  cjs.register()
  ;(globalThis as Record<symbol, unknown>)[REGISTERED] = true
}

/** Imports `modulePath` (absolute); `context` names what refers to it (the topology file) in errors. */
export async function importUserModule(
  modulePath: string,
  context: string,
): Promise<Record<string, unknown>> {
  try {
    if (TYPESCRIPT.has(path.extname(modulePath))) await (tsxRegistered ??= registerTsx())
    return (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>
  } catch (e) {
    throw new ConfigError(
      `${context}: cannot load decider module ${modulePath}: ${(e as Error).message}\n  ${loadHint(e, modulePath)}`,
      { cause: e },
    )
  }
}

/** What to do about a failed load, from the error Node gave. */
export function loadHint(e: unknown, modulePath: string): string {
  const code = (e as { code?: unknown }).code
  const message = e instanceof Error ? e.message : String(e)
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
    const missing = /Cannot find (?:module|package) '([^']+)'/.exec(message)?.[1] ?? ''
    if (missing === modulePath || missing === pathToFileURL(modulePath).href)
      return 'The file does not exist: fix the `decider:` path in the topology file (it is relative to the topology file).'
    if (missing === 'kafka-decider' || missing.startsWith('kafka-decider/'))
      return 'The decider imports kafka-decider, which this project does not have: run `npm install kafka-decider`.'
    return `A module the decider imports (${missing || 'see above'}) is missing: install it (npm install) or fix the import path.`
  }
  if (e instanceof SyntaxError)
    return 'The file does not parse: fix the syntax (run `npx tsc --noEmit` for TypeScript) and try again.'
  if (code === 'ERR_REQUIRE_ESM' || code === 'ERR_REQUIRE_CYCLE_MODULE')
    return 'A CommonJS module requires an ES module: use Node 20.19+ or 22.12+, or add "type": "module" to package.json.'
  return 'The module threw while loading: run it with `node` (or `npx tsx`) to see the full stack.'
}
