#!/usr/bin/env node
/**
 * Local Apache Kafka for development (npm run kafka:start|stop|status|fetch; `decider kafka ...` when installed).
 *   fetch                                   resolve the broker jars from Maven Central into .cache/kafka
 *   start [--port 9092] [--nodes 1|3] [--dir .kafka] [--heap 512] [--secure]
 *                                           start detached (keeps running after this exits), wait until it answers;
 *                                           --secure: SASL_SSL + SCRAM-SHA-512 (prints the CA PEM and credentials files)
 *   stop [--dir .kafka]                     stop it (SIGTERM, bounded wait, SIGKILL)
 *   status [--dir .kafka]                   report; exit code 0 when running, 1 otherwise
 */
import { kafkaCommands } from './commands.ts'

try {
  await kafkaCommands('devkafka').parseAsync(process.argv)
} catch (err) {
  console.error((err as Error).message)
  process.exitCode = 1
}
