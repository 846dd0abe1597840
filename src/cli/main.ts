/** The `decider` command line. Exit codes: 0 ok, 1 failure, 2 bad usage or configuration. */
import { Command, CommanderError } from 'commander'
import { ConfigError } from '../domain/errors.ts'
import { ReplyTimeoutError } from '../client/command-client.ts'
import { runCommand } from './run.ts'
import { validateCommand, describeCommand } from './inspect.ts'
import { sendCommand, type SendCliOptions } from './send.ts'

const program = new Command()
  .name('decider')
  .description('Exactly-once event-sourcing command processor on Apache Kafka')
  .exitOverride()
  .showHelpAfterError('(run with --help for usage)')

program
  .command('run')
  .description('run a worker for one or more topologies')
  .argument('<topologies...>', 'topology files (YAML)')
  .option('-c, --config <file>', 'worker config file (YAML); environment variables override it', process.env.DECIDER_CONFIG)
  .action(async (files: string[], opts: { config?: string }) => {
    process.exitCode = await runCommand(files, opts.config)
  })

program
  .command('validate')
  .description('check a topology file, its decider module and the decider shape')
  .argument('<topology>', 'topology file (YAML)')
  .action(async (file: string) => {
    process.exitCode = await validateCommand(file)
  })

program
  .command('describe')
  .description('show the topics, partitions, configs and tasks a topology uses')
  .argument('<topology>', 'topology file (YAML)')
  .action(async (file: string) => {
    process.exitCode = await describeCommand(file)
  })

program
  .command('send')
  .description('send one command to a topology (prints its commandId, or the reply with --wait)')
  .argument('<topology>', 'topology file (YAML)')
  .requiredOption('-t, --type <type>', 'command type, e.g. Deposit')
  .requiredOption('-i, --id <aggregateId>', 'aggregate id (the record key)')
  .option('-p, --payload <json>', 'payload as JSON, or @file.json', '{}')
  .option('--command-id <id>', 'command id (default: a new UUID)')
  .option('--expected-version <n>', 'optimistic concurrency: the version the aggregate must be at')
  .option('-w, --wait', 'wait for the reply and print it')
  .option('--timeout <ms>', 'how long --wait waits', '30000')
  .option('-c, --config <file>', 'worker config file (for brokers and credentials)', process.env.DECIDER_CONFIG)
  .action(async (file: string, opts: SendCliOptions) => {
    process.exitCode = await sendCommand(file, opts)
  })

try {
  await program.parseAsync(process.argv)
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? 0 : 2
  } else if (e instanceof ConfigError) {
    console.error(`error: ${e.message}`)
    process.exitCode = 2
  } else if (e instanceof ReplyTimeoutError) {
    console.error(`error: ${e.message}`)
    process.exitCode = 1
  } else {
    console.error(e)
    process.exitCode = 1
  }
}
