/** What kafkajs' own modules are once the package is loaded first, as the CLI and a worker load it (src/kafka/preload.ts). */
import { execFileSync } from 'node:child_process'

const ENTRY = new URL('../../src/index.ts', import.meta.url).href
const HERE = import.meta.url

/**
 * In a fresh process: imports the package's entry, then requires each kafkajs module. Returns the names of their
 * exports joined by spaces (kafkajs' own are anonymous or named otherwise).
 */
export function afterPackageLoad(modules: string[]): string {
  return execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `await import(${JSON.stringify(ENTRY)});
       const { createRequire } = await import('node:module');
       const r = createRequire(${JSON.stringify(HERE)});
       process.stdout.write(${JSON.stringify(modules)}.map((m) => r(m).name).join(' '));`,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  )
}
