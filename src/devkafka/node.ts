import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run, tailLines } from './exec.ts'
import { track } from './processes.ts'
import {
  log4j2Yaml,
  renderProperties,
  serverProperties,
  type NodeAddress,
  type SecureListener,
} from './properties.ts'
import type { KafkaJars } from './resolve.ts'

/** Files of one broker node, all under its own directory. */
export interface NodeLayout extends NodeAddress {
  dir: string
  dataDir: string
  propertiesFile: string
  log4jFile: string
  /** The broker's log4j log. */
  logFile: string
  /** The JVM's own stdout/stderr (startup failures before log4j is up end up here). */
  stdoutFile: string
}

export function nodeLayout(baseDir: string, address: NodeAddress, nodeCount: number): NodeLayout {
  const dir = nodeCount === 1 ? baseDir : join(baseDir, `node-${address.nodeId}`)
  return {
    ...address,
    dir,
    dataDir: join(dir, 'data'),
    propertiesFile: join(dir, 'server.properties'),
    log4jFile: join(dir, 'log4j2.yaml'),
    logFile: join(dir, 'server.log'),
    stdoutFile: join(dir, 'stdout.log'),
  }
}

/**
 * Writes server.properties and log4j2.yaml of a node (always regenerated: ports may differ between runs).
 * server.properties is mode 0600: on a secured broker it holds the keystore password.
 */
export function writeNodeConfig(
  node: NodeLayout,
  all: readonly NodeAddress[],
  secure?: SecureListener,
): void {
  mkdirSync(node.dir, { recursive: true })
  writeFileSync(node.propertiesFile, renderProperties(serverProperties(node, all, node.dataDir, secure)), {
    mode: 0o600,
  })
  chmodSync(node.propertiesFile, 0o600)
  writeFileSync(node.log4jFile, log4j2Yaml(node.logFile))
}

export function isFormatted(node: NodeLayout): boolean {
  return existsSync(join(node.dataDir, 'meta.properties'))
}

/**
 * Extra `--feature` flags for `kafka-storage format`. Empty: the broker's defaults for a new cluster
 * (transaction.version=2 on Kafka 4.x) work with kafkajs 2.2.4 — see test/kafka-proof.
 */
export const FORMAT_FEATURES: readonly string[] = []

/**
 * Formats a node's data dir (once). `extraArgs`: e.g. `--add-scram ...` (security.ts); `redact`: strings never to
 * show in an error message (the SCRAM password in those arguments).
 */
export async function formatNode(
  jars: KafkaJars,
  node: NodeLayout,
  clusterId: string,
  extraArgs: readonly string[] = [],
  redact: readonly string[] = [],
): Promise<void> {
  if (isFormatted(node)) return
  const args = [
    '-cp',
    jars.classpath,
    'kafka.tools.StorageTool',
    'format',
    '-t',
    clusterId,
    '-c',
    node.propertiesFile,
  ]
  for (const f of FORMAT_FEATURES) args.push('--feature', f)
  args.push(...extraArgs)
  const r = await run('java', args, { cwd: node.dir, timeoutMs: 120_000 })
  if (r.code !== 0) {
    const output = redact.reduce((text, s) => (s === '' ? text : text.replaceAll(s, '***')), r.output)
    throw new Error(
      `devkafka: formatting ${node.dataDir} failed (exit ${r.code ?? r.signal}):\n${tailLines(output, 40)}`,
    )
  }
}

export async function randomClusterId(jars: KafkaJars): Promise<string> {
  const r = await run('java', ['-cp', jars.classpath, 'kafka.tools.StorageTool', 'random-uuid'], {
    timeoutMs: 60_000,
  })
  const id = r.output.trim().split('\n').pop()?.trim() ?? ''
  if (r.code !== 0 || !/^[A-Za-z0-9_-]{22}$/.test(id)) {
    throw new Error(
      `devkafka: kafka-storage random-uuid failed (exit ${r.code ?? r.signal}):\n${tailLines(r.output, 20)}`,
    )
  }
  return id
}

export function javaArgs(jars: KafkaJars, node: NodeLayout, heapMb: number): string[] {
  return [
    `-Xmx${heapMb}m`,
    `-Xms${Math.min(heapMb, 128)}m`,
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${node.log4jFile}`,
    // Marks the process so it can be recognised (pid files, leak checks) by its command line.
    `-Ddevkafka.dir=${node.dir}`,
    '-cp',
    jars.classpath,
    'kafka.Kafka',
    node.propertiesFile,
  ]
}

/**
 * Spawns the broker JVM of a node. `detached` (daemon mode) leaves it running after this process exits;
 * otherwise it is tracked and SIGKILLed if this process exits without stopping it.
 */
export function spawnNode(
  jars: KafkaJars,
  node: NodeLayout,
  opts: { heapMb: number; detached: boolean },
): ChildProcess {
  const out = openSync(node.stdoutFile, 'a')
  try {
    const child = spawn('java', javaArgs(jars, node, opts.heapMb), {
      cwd: node.dir,
      detached: opts.detached,
      stdio: ['ignore', out, out],
    })
    if (opts.detached) child.unref()
    else track(child)
    return child
  } finally {
    closeSync(out)
  }
}

/** The last lines of a node's logs, for error messages. */
export function describeLogs(node: Pick<NodeLayout, 'logFile' | 'stdoutFile'>, lines = 30): string {
  const parts: string[] = []
  for (const f of [node.logFile, node.stdoutFile]) {
    let text = ''
    try {
      text = readFileSync(f, 'utf8')
    } catch {
      continue
    }
    if (text.trim() === '') continue
    parts.push(`--- last ${lines} lines of ${f} ---\n${tailLines(text, lines)}`)
  }
  return parts.length > 0 ? parts.join('\n') : `(no output in ${node.logFile} or ${node.stdoutFile})`
}
