/**
 * HTTP/1.1 at the byte level for the bounds and fuzz tests: writes a request as given (any method, target,
 * headers, framing; optionally half-closing after it), reads the answer and parses it strictly (status line,
 * headers, a body framed by Content-Length or chunked, or until the close).
 */
import { connect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: Buffer
}

export interface RawResult {
  /** The parsed answer; undefined when none came (or it was not well-formed: `problem` says why). */
  response?: RawResponse
  problem?: string
  /** Every byte the server sent. */
  bytes: Buffer
  /** The server closed the connection (before the client gave up). */
  closed: boolean
}

export interface RawOptions {
  /** Half-close after writing (the client sends nothing more). */
  end?: boolean
  /** Give up after this long (default 5 s). */
  timeoutMs?: number
  /** The request was HEAD: the answer has no body whatever its headers say. */
  head?: boolean
  /** Pause between the parts written (ms). */
  pauseMs?: number
  tls?: { ca: Buffer }
  /** Keep reading after a complete answer until the server closes (or the timeout): `closed` then says which. */
  untilClose?: boolean
}

/** Parses one complete response at the start of `b`; 'incomplete' when more bytes are needed. */
export function parseResponse(b: Buffer, head = false, closed = false): RawResponse | 'incomplete' | string {
  const end = b.indexOf('\r\n\r\n')
  if (end < 0) return closed ? 'the connection closed inside the headers' : 'incomplete'
  const lines = b.subarray(0, end).toString('latin1').split('\r\n')
  const m = /^HTTP\/1\.[01] (\d{3}) [^\r\n]*$/.exec(lines[0] ?? '')
  if (!m) return `bad status line ${JSON.stringify(lines[0])}`
  const headers: Record<string, string> = {}
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':')
    if (i <= 0) return `bad header line ${JSON.stringify(l)}`
    const k = l.slice(0, i).trim().toLowerCase()
    headers[k] = headers[k] === undefined ? l.slice(i + 1).trim() : `${headers[k]}, ${l.slice(i + 1).trim()}`
  }
  const status = Number(m[1])
  const rest = b.subarray(end + 4)
  if (head || status === 204 || status === 304 || (status >= 100 && status < 200))
    return { status, headers, body: Buffer.alloc(0) }
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const parts: Buffer[] = []
    let at = 0
    for (;;) {
      const eol = rest.indexOf('\r\n', at)
      if (eol < 0) return closed ? 'the connection closed inside a chunk size' : 'incomplete'
      const size = parseInt(rest.subarray(at, eol).toString('latin1').split(';')[0]!, 16)
      if (!Number.isInteger(size) || size < 0) return 'bad chunk size'
      if (rest.length < eol + 2 + size + 2)
        return closed ? 'the connection closed inside a chunk' : 'incomplete'
      if (size === 0) return { status, headers, body: Buffer.concat(parts) }
      parts.push(rest.subarray(eol + 2, eol + 2 + size))
      at = eol + 2 + size + 2
    }
  }
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length'])
    if (!Number.isInteger(n) || n < 0) return 'bad content-length'
    if (rest.length < n) return closed ? 'the connection closed inside the body' : 'incomplete'
    return { status, headers, body: rest.subarray(0, n) }
  }
  return closed ? { status, headers, body: rest } : 'incomplete'
}

/** Sends `parts` (written one after the other) to 127.0.0.1:port and reads one answer. */
export function rawRequest(port: number, parts: (string | Buffer)[], o: RawOptions = {}): Promise<RawResult> {
  return new Promise((resolve) => {
    const socket = o.tls
      ? tlsConnect({ host: '127.0.0.1', port, ca: o.tls.ca, servername: 'localhost' })
      : connect({ host: '127.0.0.1', port })
    const chunks: Buffer[] = []
    let settled = false
    const settle = (closed: boolean) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      const bytes = Buffer.concat(chunks)
      const parsed = parseResponse(bytes, o.head, true)
      socket.destroy()
      resolve(
        typeof parsed === 'string'
          ? { problem: bytes.length === 0 ? 'no answer' : parsed, bytes, closed }
          : { response: parsed, bytes, closed },
      )
    }
    const timer = setTimeout(() => settle(false), o.timeoutMs ?? 5_000)
    socket.on('data', (c: Buffer) => {
      chunks.push(c)
      const parsed = parseResponse(Buffer.concat(chunks), o.head, false)
      if (typeof parsed !== 'string' && !o.untilClose) settle(false)
    })
    socket.on('error', () => settle(true))
    socket.on('close', () => settle(true))
    const write = async () => {
      for (const [i, p] of parts.entries()) {
        if (i > 0 && o.pauseMs) await new Promise((r) => setTimeout(r, o.pauseMs))
        if (settled || socket.destroyed) return
        socket.write(p)
      }
      if (o.end && !settled) socket.end()
    }
    socket.once(o.tls ? 'secureConnect' : 'connect', () => void write())
  })
}

/** A request head: method, target, headers (Host added), then the blank line. */
export function head(method: string, target: string, headers: Record<string, string | number> = {}): string {
  return (
    `${method} ${target} HTTP/1.1\r\nhost: 127.0.0.1\r\n` +
    Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('') +
    '\r\n'
  )
}
