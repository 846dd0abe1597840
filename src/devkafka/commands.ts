/** Commands of the local dev broker (see ./cli.ts). */
import { readFileSync } from 'node:fs'
import { Command, InvalidArgumentError } from 'commander'
import { daemonStatus, defaultPort, startDaemon, stopDaemon } from './daemon.ts'
import { defaultDaemonDir } from './paths.ts'
import { ensureKafkaJars } from './resolve.ts'

function intArg(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be an integer in ${min}..${max}`)
    return n
  }
}

const log = (msg: string): void => console.error(msg)

/**
 * The dev-broker commands (fetch, start, stop, status) under one commander Command: `npm run kafka:*` in this
 * repository and `decider kafka ...` from an installed package.
 */
export function kafkaCommands(name = 'kafka'): Command {
  const program = new Command(name)
    .description('Local Apache Kafka (KRaft) from Maven Central jars, for development and tests')
    .showHelpAfterError()

  program
    .command('fetch')
    .description('resolve the Kafka broker jars (Maven) into the jar cache')
    .action(async () => {
      const jars = await ensureKafkaJars({ log })
      console.log(`Apache Kafka ${jars.version} jars in ${jars.libsDir}`)
    })

  program
    .command('start')
    .description('start a detached local broker (or 3-node cluster) and wait until it answers')
    .option(
      '--port <port>',
      'broker port of node 1 (env KAFKA_PORT, default 9092; 0 = any free port)',
      intArg('--port', 0, 65535),
    )
    .option('--nodes <n>', '1 or 3 nodes', intArg('--nodes', 1, 3), 1)
    .option('--dir <dir>', 'data/config/log directory (default: .kafka)')
    .option('--heap <mb>', 'JVM heap per node in MB', intArg('--heap', 128, 65536), 512)
    .option(
      '--secure',
      'SASL_SSL client listener with SCRAM-SHA-512: a CA, the broker certificate and a user with a random password are ' +
        'made in the dir (keytool); prints where the CA PEM and the credentials are. Single node',
    )
    .action(async (o: { port?: number; nodes: number; dir?: string; heap: number; secure?: boolean }) => {
      if (o.nodes !== 1 && o.nodes !== 3) throw new InvalidArgumentError('--nodes must be 1 or 3')
      const r = await startDaemon({
        dir: o.dir ?? defaultDaemonDir(),
        port: o.port ?? defaultPort(),
        nodes: o.nodes,
        heapMb: o.heap,
        log,
        security: o.secure ? 'sasl_ssl' : 'plaintext',
      })
      const pids = r.state.nodes.map((n) => n.pid).join(',')
      const logs = r.state.nodes.map((n) => n.logFile).join(', ')
      const how = r.state.security ? ' (SASL_SSL, SCRAM-SHA-512)' : ''
      if (r.alreadyRunning)
        console.log(`Kafka already running at ${r.state.bootstrap}${how} (pid ${pids}); log: ${logs}`)
      else console.log(`Kafka started at ${r.state.bootstrap}${how} (pid ${pids}); log: ${logs}`)
      const sec = r.state.security
      if (sec === undefined) {
        console.log(`KAFKA_BROKERS=${r.state.bootstrap}`)
        return
      }
      console.log(`CA certificate (PEM): ${sec.caFile}`)
      console.log(`Credentials: user ${sec.username}, password in ${sec.passwordFile} (mode 0600)`)
      console.log(`Client settings: ${sec.envFile} (in a shell: set -a; . ${sec.envFile}; set +a)`)
      // The variables themselves (the password by file, never printed).
      console.log(
        readFileSync(sec.envFile, 'utf8')
          .split('\n')
          .filter((l) => /^KAFKA_/.test(l))
          .join('\n'),
      )
    })

  program
    .command('stop')
    .description('stop the detached broker(s)')
    .option('--dir <dir>', 'data/config/log directory (default: .kafka)')
    .action(async (o: { dir?: string }) => {
      const dir = o.dir ?? defaultDaemonDir()
      const r = await stopDaemon({ dir })
      console.log(r.wasRunning ? `Kafka stopped (pid ${r.pids.join(',')})` : `Kafka not running (${dir})`)
    })

  program
    .command('status')
    .description('report whether the detached broker runs; exit code 0 when it does')
    .option('--dir <dir>', 'data/config/log directory (default: .kafka)')
    .action(async (o: { dir?: string }) => {
      const s = await daemonStatus({ dir: o.dir ?? defaultDaemonDir() })
      if (s.state === 'running') {
        const pids = s.info.nodes.map((n) => n.pid).join(',')
        console.log(
          `Kafka running at ${s.info.bootstrap}${s.info.security ? ` (SASL_SSL, SCRAM-SHA-512; client settings ${s.info.security.envFile})` : ''} (pid ${pids}); cluster ${s.cluster.clusterId}, ` +
            `${s.cluster.brokers.length} broker(s); log: ${s.info.nodes.map((n) => n.logFile).join(', ')}`,
        )
      } else if (s.state === 'unhealthy') {
        console.log(
          `Kafka unhealthy at ${s.info.bootstrap}: ${s.error} (alive nodes: ${s.alive.join(',') || 'none'})`,
        )
        process.exitCode = 1
      } else {
        console.log(`Kafka not running (${s.dir})`)
        process.exitCode = 1
      }
    })
  return program
}
