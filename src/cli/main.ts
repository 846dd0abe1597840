/** The `decider` command line. Exit codes: 0 ok, 1 failure, 2 bad usage or configuration. */
import { Command, CommanderError } from 'commander'
import { ConfigError } from '../domain/errors.ts'
import { runCommand } from './run.ts'
import { validateCommand, describeCommand } from './inspect.ts'

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

try {
  await program.parseAsync(process.argv)
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? 0 : 2
  } else if (e instanceof ConfigError) {
    console.error(`error: ${e.message}`)
    process.exitCode = 2
  } else {
    console.error(e)
    process.exitCode = 1
  }
}
