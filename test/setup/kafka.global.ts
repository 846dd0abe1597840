/**
 * Vitest globalSetup of the 'int' project: makes a real Apache Kafka broker available to integration tests.
 * - KAFKA_BROKERS set (e.g. `npm run kafka:start` or docker compose): use it as is.
 * - Otherwise: resolve the jars (cached in .cache/kafka) and start a single-node broker on free ports in a temp dir;
 *   the teardown stops it and removes the dir.
 * - DECIDER_TEST_CPU_BURN=N: the load variant; N busy processes (one per core saturates the machine) run from
 *   setup to teardown, so timing assumptions fail here rather than on a loaded production host.
 * The address reaches test files both ways: `process.env.KAFKA_BROKERS` (set here in the main process before the
 * workers are forked, so they inherit it — verified with vitest 4) and `inject('kafkaBrokers')`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import type { TestProject } from 'vitest/node'
import { ensureKafkaJars, startKafka, type KafkaHandle } from '../../src/devkafka/index.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string
  }
}

let kafka: KafkaHandle | undefined
let burners: ChildProcess[] = []

export async function setup(project: TestProject): Promise<void> {
  let brokers = process.env.KAFKA_BROKERS?.trim()
  if (!brokers) {
    const jars = await ensureKafkaJars({ log: (m) => console.log(m) })
    kafka = await startKafka({ jars })
    brokers = kafka.bootstrap
    process.env.KAFKA_BROKERS = brokers
    console.log(`[kafka.global] Apache Kafka ${jars.version} at ${brokers} (log: ${kafka.logFile})`)
  }
  project.provide('kafkaBrokers', brokers)
  const burn = Number(process.env.DECIDER_TEST_CPU_BURN ?? 0)
  if (Number.isInteger(burn) && burn > 0) {
    // Bounded like everything else: each burner also dies on its own after an hour.
    const loop = 'const end = Date.now() + 3_600_000; while (Date.now() < end) {}'
    burners = Array.from({ length: Math.min(burn, 16) }, () =>
      spawn(process.execPath, ['-e', loop], { stdio: 'ignore' }),
    )
    console.log(`[kafka.global] load variant: ${burners.length} busy process(es) until teardown`)
  }
}

export async function teardown(): Promise<void> {
  for (const b of burners) b.kill('SIGKILL')
  burners = []
  if (!kafka) return
  const k = kafka
  kafka = undefined
  delete process.env.KAFKA_BROKERS
  await k.stop() // SIGTERM, bounded wait, SIGKILL; removes the temp dir
}
