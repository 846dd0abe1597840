/**
 * `npm run build:console`: the web console (console/) into dist/console/: app.js (console/app.ts and its modules,
 * bundled and minified by esbuild, for current browsers), index.html and style.css as they are. Prints the size,
 * gzipped, and fails when it is above the budget written in the README ("Console").
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

/** The budget for every shipped console file together, gzipped (README "Console"). */
export const CONSOLE_BUDGET_GZIP_BYTES = 200 * 1024

const root = fileURLToPath(new URL('..', import.meta.url))
const source = path.join(root, 'console')
const out = path.join(root, 'dist', 'console')

export async function buildConsole(
  o: { quiet?: boolean } = {},
): Promise<{ bytes: number; gzipBytes: number }> {
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  await build({
    entryPoints: [path.join(source, 'app.ts')],
    outfile: path.join(out, 'app.js'),
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['chrome110', 'firefox115', 'safari16'],
    legalComments: 'none',
    logLevel: 'warning',
  })
  for (const f of ['index.html', 'style.css']) copyFileSync(path.join(source, f), path.join(out, f))
  let bytes = 0
  let gzipBytes = 0
  for (const f of readdirSync(out)) {
    const file = path.join(out, f)
    bytes += statSync(file).size
    gzipBytes += gzipSync(readFileSync(file), { level: 9 }).length
  }
  if (!o.quiet)
    console.log(
      `console: ${path.relative(root, out)}/ ${(bytes / 1024).toFixed(1)} KiB, ${(gzipBytes / 1024).toFixed(1)} KiB gzipped (budget ${CONSOLE_BUDGET_GZIP_BYTES / 1024} KiB)`,
    )
  if (gzipBytes > CONSOLE_BUDGET_GZIP_BYTES)
    throw new Error(
      `the console's files are ${gzipBytes} bytes gzipped, above the budget of ${CONSOLE_BUDGET_GZIP_BYTES}`,
    )
  return { bytes, gzipBytes }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1]))
  await buildConsole()
