/**
 * The worker's logger: JSON lines (one object per line, for log shippers) or, on a terminal, human-readable
 * lines through pino-pretty. `log.format` (DECIDER_LOG_FORMAT) chooses: json, pretty, or auto (the default:
 * pretty when stdout is a terminal, JSON otherwise, so a container or a pipe always gets JSON).
 * pino-pretty is loaded only when pretty output is chosen; without it the worker logs JSON and says how to get it.
 */
import pino, { type DestinationStream, type Logger } from 'pino'
import type { LogConfig } from '../config/worker-config.ts'

export type LogFormat = 'json' | 'pretty'

/** The format to use: the configured one, or for `auto`, pretty exactly when stdout is a terminal. */
export function chooseLogFormat(configured: LogConfig['format'], isTTY: boolean): LogFormat {
  if (configured === 'auto') return isTTY ? 'pretty' : 'json'
  return configured
}

/** pino-pretty's factory, as far as it is used here. */
export type PrettyFactory = (o: Record<string, unknown>) => DestinationStream

export interface CreateLoggerOptions {
  /** Whether stdout is a terminal (default: process.stdout.isTTY). */
  isTTY?: boolean
  /** Loads pino-pretty (default: a dynamic import); resolves undefined when it is not installed. */
  loadPretty?: () => Promise<PrettyFactory | undefined>
  /** Where JSON lines go (default: stdout). */
  destination?: DestinationStream
}

const BASE = { service: 'kafka-decider' }

export async function createLogger(log: LogConfig, o: CreateLoggerOptions = {}): Promise<Logger> {
  const format = chooseLogFormat(log.format, o.isTTY ?? process.stdout.isTTY === true)
  const options = { level: log.level, base: BASE }
  if (format === 'pretty') {
    let pretty: PrettyFactory | undefined
    let why = 'is not installed (npm i pino-pretty)'
    try {
      pretty = await (o.loadPretty ?? importPretty)()
    } catch (e) {
      why = `could not be loaded (${(e as Error).message})`
    }
    if (pretty !== undefined) {
      const stream = pretty({
        colorize: o.isTTY ?? process.stdout.isTTY === true,
        translateTime: 'SYS:HH:MM:ss.l',
        // pid, hostname and the constant service name are noise on a developer's terminal.
        ignore: 'pid,hostname,service',
        // Synchronous: a worker that exits right after a fatal line still shows it.
        sync: true,
      })
      return pino(options, stream)
    }
    const logger = o.destination ? pino(options, o.destination) : pino(options)
    logger[log.format === 'pretty' ? 'warn' : 'info'](
      `pretty logs need pino-pretty, which ${why}; logging JSON`,
    )
    return logger
  }
  return o.destination ? pino(options, o.destination) : pino(options)
}

async function importPretty(): Promise<PrettyFactory | undefined> {
  // A variable specifier: pino-pretty is optional, so neither TypeScript nor the bundler may require it.
  const name = 'pino-pretty'
  try {
    const mod = (await import(name)) as { default?: PrettyFactory }
    return mod.default
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return undefined
    throw e
  }
}
