/**
 * The bearer tokens of the worker's HTTP API (http.auth; src/http/auth.ts checks them): read from the environment
 * (DECIDER_HTTP_TOKENS) and/or a file the config names (http.auth.tokensFile), never from the YAML itself. Kept
 * as SHA-256 digests only: the plain tokens are not in the resolved config, so nothing that prints or logs the
 * config can show them.
 *
 * Two forms, in the variable or the file:
 *   name:perm[+perm]:token[,name:perm:token...]     e.g. ops:read+write:9b1c...,grafana:read:77ad...
 *     (entries separated by commas or newlines; in a file, blank lines and lines starting with # are skipped;
 *      the token is everything after the second colon)
 *   a JSON array: [{ "name": "ops", "permissions": ["read", "write"], "token": "9b1c..." }]
 * Names: letters, digits, `.`, `_`, `-`; permissions: read, write; tokens: at least 16 characters, no whitespace
 * or commas. Names are unique, and so are tokens.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { ConfigError } from '../errors.ts'

export const PERMISSIONS = ['read', 'write'] as const
export type Permission = (typeof PERMISSIONS)[number]

export const MIN_TOKEN_LENGTH = 16

/** A token as the resolved config keeps it: its name, its permissions and the SHA-256 of the token (hex). */
export const tokenCredentialSchema = z
  .object({
    name: z.string().min(1),
    permissions: z.array(z.enum(PERMISSIONS)).min(1),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict()

export type TokenCredential = z.infer<typeof tokenCredentialSchema>

const NAME = /^[A-Za-z0-9._-]{1,64}$/

/** The SHA-256 of a token, hex (what the config keeps and what a presented token is compared by). */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

/**
 * The tokens of `text` (either form above), digested. `source` names where they came from in errors (a variable
 * or a file); an error never quotes a token.
 */
export function parseTokens(text: string, source: string): TokenCredential[] {
  const trimmed = text.trim()
  if (trimmed === '') return []
  const entries: { name: unknown; permissions: unknown; token: unknown }[] = []
  if (trimmed.startsWith('[')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(trimmed)
    } catch (e) {
      throw new ConfigError(`${source}: not a JSON array of tokens: ${(e as Error).message}`)
    }
    if (!Array.isArray(parsed))
      throw new ConfigError(`${source}: expected a JSON array of {name, permissions, token}`)
    for (const [i, e] of (parsed as unknown[]).entries()) {
      if (typeof e !== 'object' || e === null || Array.isArray(e))
        throw new ConfigError(`${source}: entry ${i + 1} is not an object {name, permissions, token}`)
      const o = e as Record<string, unknown>
      const extra = Object.keys(o).filter((k) => !['name', 'permissions', 'token'].includes(k))
      if (extra.length > 0)
        throw new ConfigError(`${source}: entry ${i + 1}: unknown key(s) ${extra.join(', ')}`)
      entries.push({ name: o.name, permissions: o.permissions, token: o.token })
    }
  } else {
    const items = trimmed
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
      .flatMap((l) => l.split(','))
      .map((s) => s.trim())
      .filter((s) => s !== '')
    for (const [i, item] of items.entries()) {
      const first = item.indexOf(':')
      const second = first < 0 ? -1 : item.indexOf(':', first + 1)
      if (second < 0)
        throw new ConfigError(
          `${source}: entry ${i + 1} is not name:permissions:token (e.g. ops:read+write:<token>)`,
        )
      entries.push({
        name: item.slice(0, first),
        permissions: item.slice(first + 1, second).split('+'),
        token: item.slice(second + 1),
      })
    }
  }
  const out: TokenCredential[] = []
  for (const [i, e] of entries.entries()) {
    const at = `${source}: entry ${i + 1}`
    if (typeof e.name !== 'string' || !NAME.test(e.name))
      throw new ConfigError(`${at}: the name must be 1-64 letters, digits, '.', '_' or '-'`)
    const perms = e.permissions
    if (
      !Array.isArray(perms) ||
      perms.length === 0 ||
      perms.some((p) => !(PERMISSIONS as readonly unknown[]).includes(p))
    )
      throw new ConfigError(`${at} (${e.name}): permissions must be read and/or write (read+write)`)
    if (typeof e.token !== 'string' || e.token.length < MIN_TOKEN_LENGTH || /[\s,]/.test(e.token))
      throw new ConfigError(
        `${at} (${e.name}): the token must be at least ${MIN_TOKEN_LENGTH} characters without whitespace or commas (e.g. openssl rand -hex 32)`,
      )
    out.push({
      name: e.name,
      permissions: [...new Set(perms as Permission[])],
      sha256: tokenDigest(e.token),
    })
  }
  return out
}

/** Reads a tokens file (either form); its errors name the file, never a token. */
export function readTokensFile(file: string, key: string): TokenCredential[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new ConfigError(`${key} ${file}: cannot read the tokens file: ${(e as Error).message}`)
  }
  const tokens = parseTokens(text, `${key} ${file}`)
  // An empty file must not turn authentication off.
  if (tokens.length === 0) throw new ConfigError(`${key} ${file}: the file has no tokens`)
  return tokens
}

/** Tokens of several sources together: names and tokens must be unique across them. */
export function checkUnique(tokens: readonly TokenCredential[]): void {
  const names = new Set<string>()
  const digests = new Set<string>()
  for (const t of tokens) {
    if (names.has(t.name)) throw new ConfigError(`HTTP tokens: the name ${t.name} is given twice`)
    if (digests.has(t.sha256))
      throw new ConfigError(`HTTP tokens: ${t.name} has the same token as another entry`)
    names.add(t.name)
    digests.add(t.sha256)
  }
}
