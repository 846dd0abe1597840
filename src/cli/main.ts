/** The `decider` command line. Exit codes: 0 ok, 1 failure, 2 bad usage or configuration. */
import '../kafka/preload.ts' // first: before kafkajs loads (see the module)
import { Command, CommanderError } from 'commander'
import { ConfigError, KafkaDeciderError } from '../errors.ts'
import { runCommand } from './run.ts'
import { validateCommand, describeCommand } from './inspect.ts'
import { sendCommand, type SendCliOptions } from './send.ts'
import { topicsCheckCommand, topicsCreateCommand } from './topics.ts'
import { eventsCommand, type EventsCliOptions } from './events.ts'
import { stateCommand, type StateCliOptions } from './query.ts'
import { rebuildCommand, type RebuildOptions } from './rebuild.ts'
import { sqlCommand, type SqlCliOptions } from './sql.ts'
import { initCommand, type InitOptions } from './init.ts'
import { kafkaCommands } from '../devkafka/commands.ts'
import {
  consoleCommand,
  dlqListCommand,
  dlqReplayCommand,
  dlqShowCommand,
  type ConsoleCliOptions,
  type DlqCliOptions,
} from './dlq.ts'

const program = new Command()
  .name('decider')
  .description('Exactly-once event-sourcing command processor on Apache Kafka')
  .exitOverride()
  .showHelpAfterError('(run with --help for usage)')

program
  .command('init')
  .description(
    'scaffold a new service: a decider, its spec, topology, worker config, Dockerfile, compose file',
  )
  .argument('[dir]', 'directory to create (default: the current directory)', '.')
  .option('--name <name>', 'service and topology name (default: the directory name)')
  .option('--force', 'write into a non-empty directory (never overwrites a file)')
  .action((dir: string, opts: InitOptions) => {
    process.exitCode = initCommand(dir, opts)
  })

program.addCommand(kafkaCommands('kafka'))

program
  .command('run')
  .description('run a worker for one or more topologies')
  .argument('<topologies...>', 'topology files (YAML)')
  .option(
    '-c, --config <file>',
    'worker config file (YAML); environment variables override it',
    process.env.DECIDER_CONFIG,
  )
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
  .description(
    'show the topics, partitions, configs and tasks a topology uses, and the Kafka connection of the worker config (secrets masked)',
  )
  .argument('<topology>', 'topology file (YAML)')
  .option(
    '-c, --config <file>',
    'worker config file (YAML); environment variables override it',
    process.env.DECIDER_CONFIG,
  )
  .action(async (file: string, opts: { config?: string }) => {
    process.exitCode = await describeCommand(file, opts.config)
  })

program
  .command('send')
  .description(
    'send one command (--type, --id) or a file of commands (--file) to a topology; --wait prints the reply',
  )
  .argument('<topology>', 'topology file (YAML)')
  .option('-t, --type <type>', 'command type, e.g. Deposit')
  .option('-i, --id <aggregateId>', 'aggregate id (the record key)')
  .option('-p, --payload <json>', 'payload as JSON, or @file.json', '{}')
  .option(
    '-f, --file <commands.ndjson>',
    'send every command of a file, one JSON object per line: {"aggregateId","type","payload","commandId"?,"expectedVersion"?}; shows a progress bar',
  )
  .option('--command-id <id>', 'command id (default: a new UUID)')
  .option('--expected-version <n>', 'optimistic concurrency: the version the aggregate must be at')
  .option('-w, --wait', 'wait for the reply and print it (with --file: count the replies by status)')
  .option('--timeout <ms>', 'how long --wait waits for a reply', '30000')
  .option(
    '-c, --config <file>',
    'worker config file (for brokers and credentials)',
    process.env.DECIDER_CONFIG,
  )
  .addHelpText(
    'after',
    `
Examples:
  decider send topologies/bank-account.yaml --type Deposit --id acc-1 --payload '{"amount":100}' --wait
  decider send topologies/bank-account.yaml --file commands.ndjson --wait

Exit codes: 0 sent (with --wait: every reply accepted or duplicate), 1 otherwise, 2 bad usage.`,
  )
  .action(async (file: string, opts: SendCliOptions) => {
    process.exitCode = await sendCommand(file, opts)
  })

const topics = program.command('topics').description('create or check the topics of a topology')

topics
  .command('create')
  .description(
    'create the missing topics of a topology (partitions and configs as the worker wants them), then check them all',
  )
  .argument('<topology>', 'topology file (YAML)')
  .option(
    '--replication-factor <n>',
    "for new topics, when the topology does not say (default: the broker's)",
  )
  .option(
    '-c, --config <file>',
    'worker config file (for brokers and credentials)',
    process.env.DECIDER_CONFIG,
  )
  .action(async (file: string, opts: { config?: string; replicationFactor?: string }) => {
    process.exitCode = await topicsCreateCommand(file, opts)
  })

topics
  .command('check')
  .description(
    'check that the topics exist, co-partitioned, the changelog compacted and events kept forever (exit 1 with the problems)',
  )
  .argument('<topology>', 'topology file (YAML)')
  .option(
    '-c, --config <file>',
    'worker config file (for brokers and credentials)',
    process.env.DECIDER_CONFIG,
  )
  .action(async (file: string, opts: { config?: string }) => {
    process.exitCode = await topicsCheckCommand(file, opts)
  })

program
  .command('state')
  .description(
    "print an aggregate's committed snapshot: from a running worker (--url or DECIDER_URL), else from the local LevelDB store " +
      '(which a running worker holds: then this waits up to 5 s and fails)',
  )
  .argument('<topology>', 'topology file (YAML)')
  .argument('<aggregateId>', 'aggregate id')
  .option(
    '-u, --url <url>',
    "any running worker's HTTP address (http.host:http.port), e.g. http://127.0.0.1:9464; default DECIDER_URL unless --state-dir is given",
  )
  .option(
    '--token <token>',
    "a bearer token of the worker's http.auth with the read permission (default DECIDER_TOKEN; prefer the variable: a command line is visible to other users)",
  )
  .option('--timeout <ms>', 'how long to wait for the worker to answer (with --url)', '10000')
  .option(
    '--event-time-as-of <time>',
    'the state as of this business time (ISO-8601): events whose eventTime is later are left out (with --url)',
  )
  .option(
    '--recorded-as-of <time>',
    'the state as it was recorded at this time (ISO-8601): events recorded later are left out (with --url)',
  )
  .option(
    '--state-dir <dir>',
    "read the local store under this state dir (default: the config's stateDir / DECIDER_STATE_DIR)",
  )
  .option('-c, --config <file>', 'worker config file', process.env.DECIDER_CONFIG)
  .addHelpText(
    'after',
    `
Examples:
  decider state topologies/bank-account.yaml acc-1 --url http://127.0.0.1:9464   # ask a running worker
  decider state topologies/bank-account.yaml acc-1                                # read the local store (worker stopped)

Any worker of the group answers for every aggregate: it forwards the read to the worker that owns the aggregate's
partition (answeredBy names it). While the group rebalances, the worker answers 503 and this asks again until
--timeout.
Exit codes: 0 printed, 1 no snapshot / not reachable / owner not known within --timeout, 2 bad usage.`,
  )
  .action(async (file: string, id: string, opts: StateCliOptions) => {
    process.exitCode = await stateCommand(file, id, opts)
  })

program
  .command('events')
  .description(
    "print an aggregate's committed events (one JSON per line, version order) from a running worker's event index " +
      '(--url or DECIDER_URL), else the local store, else a scan of its events topic partition; or, with --all, every event in commit order',
  )
  .argument('<topology>', 'topology file (YAML)')
  .argument('[aggregateId]', 'aggregate id (not with --all)')
  .option(
    '-u, --url <url>',
    "any running worker's HTTP address; default DECIDER_URL unless --state-dir or --scan is given",
  )
  .option(
    '--token <token>',
    "with --url: a bearer token of the worker's http.auth with the read permission (default DECIDER_TOKEN)",
  )
  .option(
    '--state-dir <dir>',
    "read the event index of the local store under this state dir (default: the config's stateDir)",
  )
  .option(
    '--scan',
    'read the whole events topic partition instead of an index (read_committed; O(partition))',
  )
  .option('--from-version <n>', 'first version to print')
  .option('--to-version <n>', 'last version to print')
  .option(
    '--all',
    'every committed event of the topology, in commit order per partition, up to the current end',
  )
  .option('--from <token>', 'with --all: resume at this position token (printed by the previous --all)')
  .option(
    '--timeout <ms>',
    'bound on a scan; on an --all read without progress; on the answer of an HTTP read',
    '120000',
  )
  .option(
    '--history <view>',
    'recorded: every event, the corrected ones marked "correctedBy"; corrected: without the events a later correction names',
    'recorded',
  )
  .option(
    '--raw',
    'print the events as stored (no upcasting to the current schema versions, no correction marks)',
  )
  .option(
    '-c, --config <file>',
    'worker config file (for brokers and credentials)',
    process.env.DECIDER_CONFIG,
  )
  .addHelpText(
    'after',
    `
Examples:
  decider events topologies/bank-account.yaml acc-1 --url http://127.0.0.1:9464   # the worker's index
  decider events topologies/bank-account.yaml acc-1 --from-version 10             # the local store (worker stopped)
  decider events topologies/bank-account.yaml acc-1 --scan                        # scan the events topic partition
  decider events topologies/bank-account.yaml --all > events.jsonl                # everything, then resume with
  decider events topologies/bank-account.yaml --all --from <token>                # the token printed on stderr

Any worker answers with --url: it forwards the read to the owner of the aggregate's partition.
Exit codes: 0 printed, 1 no events / not reachable / owner not known within --timeout, 2 bad usage.`,
  )
  .action(async (file: string, id: string | undefined, opts: EventsCliOptions) => {
    process.exitCode = await eventsCommand(file, id, opts)
  })

program
  .command('rebuild')
  .description(
    'replay the events topic with the current evolve and rewrite the snapshots that differ (changelog and local stores); for a projection file: delete its views, topics and offsets so the next worker projects every event again. Stop the workers first',
  )
  .argument('<topology>', 'topology file (YAML)')
  .option('--dry-run', 'only report the differences between the changelog snapshots and the replayed ones')
  .option('--force', 'write even while the consumer group has members')
  .option(
    '--state-dir <dir>',
    "local stores to update too (default: the config's stateDir / DECIDER_STATE_DIR)",
  )
  .option('--timeout <ms>', 'bound on the scan of one partition', '120000')
  .option(
    '-c, --config <file>',
    'worker config file (for brokers and credentials)',
    process.env.DECIDER_CONFIG,
  )
  .action(async (file: string, opts: RebuildOptions) => {
    process.exitCode = await rebuildCommand(file, opts)
  })

program
  .command('sql')
  .description(
    "run a SQL query (DuckDB) over tables loaded from the topologies' topics, read_committed: events, snapshots, views",
  )
  .argument('<files-then-query...>', 'topology or projection files (YAML), then the query (or @file.sql)')
  .option(
    '-f, --format <format>',
    'table, json (one object per line) or csv (default: table on a terminal, json otherwise)',
  )
  .option('--timeout <ms>', 'bound on reading the topics and running the query', '60000')
  .option('--max-rows <n>', 'rows loaded per table at most', '5000000')
  .option('--raw', 'events as stored (no upcasting to the current schema versions)')
  .option(
    '-c, --config <file>',
    'worker config file (for brokers and credentials)',
    process.env.DECIDER_CONFIG,
  )
  .addHelpText(
    'after',
    `
Tables (names with "-" or "." need double quotes):
  "<name>_events"     per decider topology, its events topic: partition, "offset", aggregate_id, version, type,
                      event_id, command_id, correlation_id, causation_id, event_time, recorded_at (TIMESTAMP, UTC),
                      schema_version, corrects (VARCHAR[]), correction_reason, payload (JSON)
  "<name>_snapshots"  its changelog, the last snapshot per aggregate: aggregate_id, version, state (JSON), state_version
  "<name>_views"      per projection topology, its views changelog, the last view per key: key, view (JSON)
  events, snapshots, views: the same, when one topology of that kind is given

Examples:
  decider sql topologies/bank-account.yaml "SELECT type, count(*) FROM events GROUP BY type"
  decider sql topologies/bank-account.yaml "SELECT sum((payload->>'amount')::BIGINT) FROM events WHERE type = 'MoneyDeposited'"
  decider sql topologies/bank-account.yaml --format csv @report.sql > report.csv

Exit codes: 0 answered, 1 Kafka failed / a topic is missing / a bound was passed, 2 a bad query (the message lists the
tables and their columns) or bad usage.`,
  )
  .action(async (args: string[], opts: SqlCliOptions) => {
    process.exitCode = await sqlCommand(args, opts)
  })

program
  .command('console')
  .description("print the web console's URL on a running worker and open it in a browser")
  .option(
    '-u, --url <url>',
    "any running worker's HTTP address (default DECIDER_URL, else http://127.0.0.1:9464)",
  )
  .option('--no-open', 'print the URL only')
  .option('--timeout <ms>', 'how long to wait for the worker to answer', '5000')
  .addHelpText(
    'after',
    `
Every worker serves the console on its HTTP port (/console/), with the API's authentication: the page asks for a
token when the worker has http.auth. Pages: overview, aggregates, read models, dead letters, send a command.
Exit codes: 0 printed, 1 the worker is not reachable or serves no console, 2 bad usage.`,
  )
  .action(async (opts: ConsoleCliOptions) => {
    process.exitCode = await consoleCommand(opts)
  })

const dlq = program
  .command('dlq')
  .description("a topology's dead letters, through a running worker: list, show, replay")
const dlqOptions = (c: Command, permission: 'read' | 'write') =>
  c
    .option(
      '-u, --url <url>',
      "any running worker's HTTP address (default DECIDER_URL, else http://127.0.0.1:9464)",
    )
    .option(
      '--token <token>',
      `a bearer token of the worker's http.auth with the ${permission} permission (default DECIDER_TOKEN)`,
    )
    .option('--timeout <ms>', 'how long to wait for the worker to answer', '30000')
dlqOptions(
  dlq
    .command('list')
    .description(
      'the newest dead letters of each partition: <partition>:<offset>, time, reason, aggregate, command type, message',
    )
    .argument('<topology>', 'topology name (or its YAML file)')
    .option('--limit <n>', 'per partition (1..500)', '50')
    .option('--partition <n>', 'one partition only')
    .option('--json', 'print them as JSON (with the decoded commands and headers)'),
  'read',
).action(async (topology: string, opts: DlqCliOptions) => {
  process.exitCode = await dlqListCommand(topology, opts)
})
dlqOptions(
  dlq
    .command('show')
    .description('one dead letter as JSON: reason, source, the original command, headers')
    .argument('<topology>', 'topology name (or its YAML file)')
    .argument('<position>', '<partition>:<offset>, as dlq list prints it'),
  'read',
).action(async (topology: string, position: string, opts: DlqCliOptions) => {
  process.exitCode = await dlqShowCommand(topology, position, opts)
})
dlqOptions(
  dlq
    .command('replay')
    .description(
      "write dead letters back to the topology's commands topic as they were (recorded: decider-replay-of and decider-replayed-by headers, and the worker's log)",
    )
    .argument('<topology>', 'topology name (or its YAML file)')
    .argument('<positions...>', '<partition>:<offset> of each, as dlq list prints them')
    .option('--wait <ms>', 'wait this long for each reply (0: do not wait; at most 30000)', '10000'),
  'write',
)
  .addHelpText(
    'after',
    `
Examples:
  decider dlq list bank-account --url http://127.0.0.1:9464
  decider dlq show bank-account 3:17
  decider dlq replay bank-account 3:17 3:18

Exit codes: 0 every one replayed (and answered accepted or duplicate when waited for), 1 otherwise, 2 bad usage.`,
  )
  .action(async (topology: string, positions: string[], opts: DlqCliOptions) => {
    process.exitCode = await dlqReplayCommand(topology, positions, opts)
  })

try {
  await program.parseAsync(process.argv)
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? 0 : 2
  } else if (e instanceof KafkaDeciderError) {
    // Ours: the message says what to do. Bad usage or configuration exits 2, anything else 1.
    console.error(`error: ${e.message}`)
    process.exitCode = e instanceof ConfigError ? 2 : 1
  } else if (e instanceof Error && e.message.startsWith('devkafka:')) {
    console.error(`error: ${e.message}`) // the dev broker's errors say what to install or do
    process.exitCode = 1
  } else {
    console.error(e)
    process.exitCode = 1
  }
}
