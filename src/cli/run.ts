import { existsSync } from 'node:fs'
import { loadWorkerConfig } from '../config/worker-config.ts'
import { ConfigError } from '../errors.ts'
import { createLogger } from '../worker/logger.ts'
import { Worker } from '../worker/worker.ts'
import { loadTopology, type Topology } from '../topology/loader.ts'
import { isProjectionText, loadProjection, type ProjectionTopology } from '../topology/projection-loader.ts'
import { readFile } from 'node:fs/promises'

const DEFAULT_CONFIG = 'config/worker.yaml'

export async function runCommand(files: string[], configFile: string | undefined): Promise<number> {
  let worker: Worker
  try {
    const file = configFile ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined)
    const config = await loadWorkerConfig(file)
    const { topologies, projections } = await loadTopologyFiles(files)
    worker = new Worker({ topologies, projections, config, logger: await createLogger(config.log) })
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`error: ${e.message}`)
      return 2
    }
    throw e
  }
  const onSignal = signalHandler(worker, (code) => process.exit(code))
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  try {
    await worker.start()
  } catch (e) {
    worker.logger.fatal({ err: e }, 'worker failed to start')
    await worker.stop()
    return e instanceof ConfigError ? 2 : 1
  }
  const code = await worker.done
  // kafkajs may keep sockets alive briefly; the work is done, so leave.
  setTimeout(() => process.exit(code), 200).unref()
  return code
}

/** First SIGTERM/SIGINT: graceful stop. A second one: exit(1) at once. */
export function signalHandler(
  worker: Pick<Worker, 'stop' | 'logger'>,
  exit: (code: number) => void,
): (sig: NodeJS.Signals) => void {
  let signals = 0
  return (sig) => {
    signals++
    if (signals > 1) {
      worker.logger.warn({ signal: sig }, 'second signal: exiting now')
      exit(1)
      return
    }
    worker.logger.info({ signal: sig }, 'shutting down (send the signal again to force)')
    void worker.stop()
  }
}

/** Decider topologies and projections, each file by its `kind`. */
export async function loadTopologyFiles(
  files: string[],
): Promise<{ topologies: Topology[]; projections: ProjectionTopology[] }> {
  const topologies: Topology[] = []
  const projections: ProjectionTopology[] = []
  for (const f of files) {
    const text = await readFile(f, 'utf8').catch(() => '')
    if (isProjectionText(text)) projections.push(await loadProjection(f))
    else topologies.push(await loadTopology(f))
  }
  return { topologies, projections }
}
