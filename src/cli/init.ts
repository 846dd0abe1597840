/**
 * `decider init [dir]`: scaffolds a new service that uses kafka-decider: package.json, tsconfig, one decider with
 * its given/when/then spec, its topology file, a worker config, a Dockerfile and a compose file. The files come
 * from the package's templates/service folder; `{{name}}` and `{{version}}` are filled in.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError } from '../errors.ts'

export interface InitOptions {
  /** Service (and topology) name; default: the directory's name, made a valid topology name. */
  name?: string
  /** Write into a directory that already has files (never overwrites one). */
  force?: boolean
}

const packageRoot = fileURLToPath(new URL('../..', import.meta.url))
const TEMPLATE_DIR = path.join(packageRoot, 'templates', 'service')
/** Template files whose names npm pack would drop or act on: stored with `_` instead of the leading dot. */
const RENAMED: Record<string, string> = { _gitignore: '.gitignore', _dockerignore: '.dockerignore' }

/** A topology name (it names topics, the consumer group and the state folder) from a directory name. */
export function serviceName(dir: string): string {
  const name = path
    .basename(path.resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 100)
  return name === '' ? 'my-service' : name
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }
  return pkg.version
}

function templateFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const rel = path.join(prefix, entry)
    return statSync(path.join(dir, entry)).isDirectory() ? templateFiles(path.join(dir, entry), rel) : [rel]
  })
}

/** Writes the scaffold into `dir`; returns the files written (relative to dir). */
export function scaffold(dir: string, opts: InitOptions = {}): string[] {
  const target = path.resolve(dir)
  const name = opts.name ?? serviceName(target)
  if (!/^[a-z0-9][a-z0-9._-]{0,99}$/.test(name))
    throw new ConfigError(
      `init: "${name}" cannot name a service: use lowercase letters, digits, ".", "_" or "-" (--name <name>)`,
    )
  if (existsSync(target) && readdirSync(target).length > 0 && !opts.force)
    throw new ConfigError(
      `init: ${target} is not empty; choose a new directory, or pass --force to add the files that are missing`,
    )
  const fill = (text: string) => text.replaceAll('{{name}}', name).replaceAll('{{version}}', packageVersion())
  const written: string[] = []
  for (const rel of templateFiles(TEMPLATE_DIR)) {
    const out = fill(RENAMED[rel] ?? rel)
    const file = path.join(target, out)
    if (existsSync(file)) continue
    mkdirSync(path.dirname(file), { recursive: true })
    writeFileSync(file, fill(readFileSync(path.join(TEMPLATE_DIR, rel), 'utf8')))
    written.push(out)
  }
  return written.sort()
}

export function initCommand(dir: string, opts: InitOptions): number {
  const files = scaffold(dir, opts)
  const shown = path.relative(process.cwd(), path.resolve(dir)) || '.'
  console.log(`Created ${files.length} files in ${shown}:\n  ${files.join('\n  ')}`)
  console.log(
    [
      '',
      'Next:',
      shown === '.' ? undefined : `  cd ${shown}`,
      '  npm install           # kafka-decider, zod, TypeScript, vitest',
      '  npm test              # the decider spec and the topology in memory (no Kafka needed)',
      '  npm run dev           # starts a local Kafka broker (Java 17 + Maven) and a worker',
      '  docker compose up     # or: the broker and the worker in containers',
    ]
      .filter((l) => l !== undefined)
      .join('\n'),
  )
  return 0
}
