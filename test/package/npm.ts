/** Child processes for the packaging test: bounded, output captured. */
import { execFile } from 'node:child_process'
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { ROOT } from '../cli/run-cli.ts'

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

export function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
  timeoutMs = 120_000,
): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd, env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

/** `npm install` from the npm cache where it can (the tarball itself is a local file); fails loudly. */
export async function npm(dir: string, args: string[]): Promise<void> {
  const r = await run(
    'npm',
    [...args, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'],
    dir,
    {},
    300_000,
  )
  if (r.code !== 0)
    throw new Error(`npm ${args.join(' ')} in ${dir} failed (${r.code}):\n${r.stdout}\n${r.stderr}`)
}

/** `npm pack` of this checkout (its prepack script builds dist/) into `dest`; returns the tarball's path. */
export async function packTarball(dest: string): Promise<string> {
  const r = await run('npm', ['pack', '--pack-destination', dest, '--loglevel=error'], ROOT, {}, 300_000)
  if (r.code !== 0) throw new Error(`npm pack failed (${r.code}):\n${r.stdout}\n${r.stderr}`)
  const tgz = readdirSync(dest).find((f) => f.endsWith('.tgz'))
  if (!tgz) throw new Error(`npm pack wrote no tarball into ${dest}:\n${r.stdout}`)
  return path.join(dest, tgz)
}
