/**
 * Worker: one process running one or more topologies, each with its own consumer group and tasks.
 * Shutdown: stop fetching, let the batch in flight commit or abort, close stores, leave the group.
 */
import type { Server } from 'node:http'
import { createRequire } from 'node:module'
import { hostname, networkInterfaces } from 'node:os'
import pino, { type Logger } from 'pino'
import { readFileSync } from 'node:fs'
import { httpAuthEnabled, type WorkerConfig } from '../config/worker-config.ts'
import { httpAuth } from '../http/auth.ts'
import type { PeerTls } from '../http/peer.ts'
import { startHttp, type HttpTls, type Readiness } from '../http/server.ts'
import { upcastEvent } from '../domain/upcasting.ts'
import { asOfQuery } from '../http/as-of.ts'
import { eventQueries, type EventQueries } from '../http/events.ts'
import { replyPositions } from '../http/positions.ts'
import { stateQuery } from '../http/state.ts'
import { viewQueries } from '../http/views.ts'
import type { FrontDoorOptions } from '../http/front-door.ts'
import { advertisedUrlOf, aggregateRouter } from '../http/routing.ts'
import { HTTP_ROUTES } from '../http/routes.ts'
import { sqlRoute, type SqlRoute } from '../http/sql.ts'
import { catalogQuery, consoleFiles } from '../http/console.ts'
import { clusterQuery } from '../http/cluster.ts'
import type { GroupSnapshot, WorkerSnapshot } from '../http/console-api.ts'
import { KafkaDeadLetters } from '../kafka/dead-letter-reader.ts'
import { KafkaCommittedTopics } from '../kafka/committed-topics.ts'
import { KafkaOwnerDirectory } from '../kafka/owner-directory.ts'
import { CommandGateway } from './command-gateway.ts'
import { createKafka } from '../kafka/client.ts'
import { checkKafkaConnection } from '../kafka/connection-check.ts'
import { isSecured } from '../kafka/security.ts'
import { describeKafkaConnection } from '../config/kafka-config.ts'
import { KafkaLogFilter } from '../kafka/log-bridge.ts'
import { createMetrics, metricsListener, type Metrics, type WorkerListener } from '../metrics/metrics.ts'
import type { Topology } from '../topology/loader.ts'
import { TaskState } from '../runtime/task-state.ts'
import { readyMessage } from './first-run.ts'
import { TopologyRunner, type TopologyRunnerOptions, type WorkerRunner } from './topology-runner.ts'
import { ProjectionRunner } from './projection-runner.ts'
import type { ProjectionTopology } from '../topology/projection-loader.ts'
import { projectionListener } from '../metrics/projection-metrics.ts'
import { ConfigError } from '../errors.ts'

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string }

export interface WorkerOptions {
  topologies: Topology[]
  /** Projections (kind: projection) this worker runs besides the topologies. */
  projections?: ProjectionTopology[]
  config: WorkerConfig
  logger?: Logger
  /** The runner of one topology (default: TopologyRunner, over Kafka); tests pass a fake. */
  createRunner?: (o: TopologyRunnerOptions) => WorkerRunner
}

export class Worker {
  readonly runners: WorkerRunner[] = []
  readonly projectionRunners: ProjectionRunner[] = []
  readonly metrics: Metrics
  readonly logger: Logger
  private http: Server | undefined
  /** The URL this worker announces to its groups (routed reads), when it has one. */
  private advertisedUrl: string | undefined
  /** Owners of partitions, read from the groups (for reads this worker forwards). */
  private owners: KafkaOwnerDirectory | undefined
  private commands: CommandGateway | undefined
  /** Reads the topologies' dead letters for the console and `decider dlq` (GET /dead-letters). */
  private deadLetters: KafkaDeadLetters | undefined
  private stopping: Promise<void> | undefined
  private fatal: Error | undefined
  /** Topologies whose group is rebalancing (between kafkajs' REBALANCING and the next GROUP_JOIN). */
  private readonly rebalancing = new Set<string>()
  /** Shared by the kafkajs clients: start-up retries are debug until the worker is up (see log-bridge.ts). */
  private readonly kafkaLogs = new KafkaLogFilter()
  private up = false
  private resolveDone!: (code: number) => void
  /** Resolves with the exit code once the worker has stopped. */
  readonly done = new Promise<number>((r) => (this.resolveDone = r))

  constructor(private readonly o: WorkerOptions) {
    // Each name is a consumer group id, and the key of routed reads: a topology and a projection cannot share one.
    const names = [...o.topologies, ...(o.projections ?? [])].map((t) => t.definition.name)
    const twice = names.find((n, i) => names.indexOf(n) !== i)
    if (twice !== undefined)
      throw new ConfigError(
        `two topologies or projections are named ${twice}: each name is a consumer group; rename one`,
      )
    this.logger = o.logger ?? pino({ level: o.config.log.level, base: { service: 'kafka-decider' } })
    this.metrics = createMetrics()
    this.metrics.buildInfo.set({ version: pkg.version, node: process.version }, 1)
  }

  get httpAddress(): string | undefined {
    const a = this.http?.address()
    const scheme = this.o.config.http.tls !== undefined ? 'https' : 'http'
    return a && typeof a === 'object'
      ? `${scheme}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`
      : undefined
  }

  /** /readyz: every topology joined its group and all its tasks are RUNNING; not while rebalancing or stopping. */
  isReady(): boolean {
    return this.readiness().ready
  }

  /** Readiness with the reason it is not ready (the /readyz body). */
  readiness(): Readiness {
    const r = this.readinessVerdict()
    const details = this.standbyDetails()
    return details.length > 0 ? { ...r, details } : r
  }

  /**
   * One line per topology with standby replicas here: how many are caught up (within CAUGHT_UP_RECORDS of the
   * changelog's stable end) and the largest lag. A standby behind does not make the worker unready: it only makes
   * a failover to this worker replay more.
   */
  private standbyDetails(): string[] {
    const out: string[] = []
    for (const r of this.runners) {
      const standbys = [...(r.standbys?.values() ?? [])]
      if (standbys.length === 0) continue
      const caughtUp = standbys.filter((s) => s.caughtUp).length
      const maxLag = Math.max(...standbys.map((s) => s.lag))
      out.push(
        `standbys ${r.name}: ${caughtUp}/${standbys.length} caught up` +
          (caughtUp < standbys.length
            ? ` (largest lag ${Number.isFinite(maxLag) ? maxLag : 'not yet known'} records)`
            : ''),
      )
    }
    return out
  }

  private readinessVerdict(): Readiness {
    if (this.fatal !== undefined) return { ready: false, reason: `stopping: ${this.fatal.message}` }
    if (this.stopping !== undefined) return { ready: false, reason: 'shutting down' }
    const projections = this.o.projections ?? []
    if (
      (this.runners.length === 0 && this.projectionRunners.length === 0) ||
      this.runners.length < this.o.topologies.length ||
      this.projectionRunners.length < projections.length
    )
      return { ready: false, reason: 'starting' }
    for (const r of this.projectionRunners) {
      if (this.rebalancing.has(r.name)) return { ready: false, reason: `${r.name}: rebalancing` }
      if (!r.isReady()) {
        const stalls = r.stalls()
        const waiting = [...r.tasks.values()]
          .filter((t) => t.state !== TaskState.RUNNING)
          .map((t) => `${t.partition}:${t.state}`)
        return {
          ready: false,
          reason: `${r.name}: ${stalls.length > 0 ? stalls.join('; ') : waiting.length > 0 ? `tasks ${waiting.join(' ')}` : 'joining the groups'}`,
        }
      }
    }
    for (const r of this.runners) {
      if (this.rebalancing.has(r.name)) return { ready: false, reason: `${r.name}: rebalancing` }
      if (!r.isReady()) {
        const stalls = r.stalls()
        if (stalls.length > 0) return { ready: false, reason: `${r.name}: ${stalls.join('; ')}` }
        const waiting = [...r.tasks.values()]
          .filter((t) => t.state !== TaskState.RUNNING)
          .map((t) => `${t.partition}:${t.state}`)
        return {
          ready: false,
          reason: `${r.name}: ${waiting.length > 0 ? `tasks ${waiting.join(' ')}` : 'joining the group'}`,
        }
      }
    }
    return { ready: true }
  }

  /** This worker's part of the console's overview (GET /cluster?scope=local): tasks, standbys, counters. */
  private async snapshot(url: string): Promise<WorkerSnapshot> {
    const r = this.readiness()
    const all = await this.metrics.registry.getMetricsAsJSON()
    const values = (name: string) => all.find((m) => m.name === name)?.values ?? []
    const sum = (name: string, label: string, value: string, by?: string, only?: [string, string]) => {
      const out: Record<string, number> = {}
      for (const v of values(name))
        if (v.labels[label] === value && (only === undefined || v.labels[only[0]] === only[1])) {
          const k = by === undefined ? '' : String(v.labels[by] ?? '')
          out[k] = (out[k] ?? 0) + Number(v.value)
        }
      return out
    }
    const lagOf = (name: string, label: string, value: string) => {
      const out = new Map<number, number>()
      for (const v of values(name))
        if (v.labels[label] === value) out.set(Number(v.labels.partition), Number(v.value))
      return out
    }
    const total = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0)
    const groups: GroupSnapshot[] = []
    for (const t of this.runners) {
      const lag = lagOf('decider_consumer_lag_records', 'topology', t.name)
      groups.push({
        name: t.name,
        kind: 'topology',
        tasks: [...t.tasks.values()]
          .map((task) => ({
            partition: task.partition,
            state: task.state,
            lag: lag.get(task.partition) ?? null,
          }))
          .sort((a, b) => a.partition - b.partition),
        standbys: [...(t.standbys?.values() ?? [])].map((s) => ({
          partition: s.partition,
          lag: Number.isFinite(s.lag) ? s.lag : null,
          caughtUp: s.caughtUp,
        })),
        counters: {
          commands: sum('decider_commands_processed_total', 'topology', t.name, 'outcome'),
          events: total(sum('decider_events_written_total', 'topology', t.name)),
          deadLetters: total(sum('decider_dead_letters_total', 'topology', t.name)),
        },
      })
    }
    for (const p of this.projectionRunners) {
      const lag = lagOf('decider_projection_lag_records', 'projection', p.name)
      groups.push({
        name: p.name,
        kind: 'projection',
        tasks: [...p.tasks.values()]
          .map((task) => ({
            partition: task.partition,
            state: task.state,
            lag: lag.get(task.partition) ?? null,
          }))
          .sort((a, b) => a.partition - b.partition),
        standbys: [],
        counters: {
          // Events applied by the projection stage, by result (ok, duplicate, dead_letter); not the routing stage's.
          commands: sum('decider_projection_events_total', 'projection', p.name, 'result', [
            'stage',
            'project',
          ]),
          events: total(sum('decider_projection_views_written_total', 'projection', p.name)),
          deadLetters: total(sum('decider_projection_dead_letters_total', 'projection', p.name)),
        },
      })
    }
    return {
      url,
      ready: r.ready,
      ...(r.reason !== undefined ? { reason: r.reason } : {}),
      ...(r.details !== undefined ? { details: r.details } : {}),
      at: Date.now(),
      groups,
    }
  }

  /** The metrics listener, plus the rebalancing flag readiness needs. */
  private listenerFor(name: string): WorkerListener {
    return this.withGroupHooks(
      name,
      'topology',
      metricsListener(this.metrics, name, { stateDir: this.o.config.stateDir }),
    )
  }

  /**
   * A topology's or projection's metrics listener, plus what the worker itself follows of its group: rebalancing
   * (readiness, the owner directory) and tasks becoming RUNNING (the ready line).
   */
  private withGroupHooks<
    L extends Pick<WorkerListener, 'rebalancing' | 'rebalanced'> & {
      stateChanged?(task: never, from: TaskState, to: TaskState): void
    },
  >(name: string, kind: 'topology' | 'projection', metrics: L): L {
    return {
      ...metrics,
      rebalancing: () => {
        this.owners?.invalidate(name)
        this.rebalancing.add(name)
        this.logger.info({ [kind]: name }, 'group rebalancing')
      },
      rebalanced: (assigned: readonly number[]) => {
        this.owners?.invalidate(name)
        this.rebalancing.delete(name)
        metrics.rebalanced?.(assigned)
        this.checkUp()
      },
      stateChanged: (task: never, from: TaskState, to: TaskState) => {
        metrics.stateChanged?.(task, from, to)
        // After the task's own 'task running' line, so that the ready line is the last of the start-up.
        if (to === TaskState.RUNNING) setImmediate(() => this.checkUp())
      },
    }
  }

  /** The first time the worker is ready: end the kafkajs start-up window, say where it listens and how to use it. */
  private checkUp(): void {
    if (this.up || !this.isReady()) return
    this.up = true
    this.kafkaLogs.started()
    const m = readyMessage(this.o.topologies, this.o.config.kafka.brokers, this.httpAddress)
    this.logger.info(m.fields, m.msg)
  }

  async start(): Promise<void> {
    const { config } = this.o
    await this.checkKafka()
    if (config.http.enabled) {
      const events = eventQueries(this.o.topologies, () => this.runners)
      const tls = loadHttpTls(config.http.tls)
      const peerTls: PeerTls | undefined =
        tls === undefined
          ? undefined
          : { cert: tls.cert, key: tls.key, ...(tls.ca !== undefined ? { ca: tls.ca } : {}) }
      const door = this.frontDoor(events, peerTls)
      const { auth } = config.http
      this.http = await startHttp({
        host: config.http.host,
        port: config.http.port,
        ...(tls !== undefined ? { tls } : {}),
        auth: httpAuth(auth),
        limits: {
          maxBodyBytes: config.http.maxBodyBytes,
          maxUrlBytes: config.http.maxUrlBytes,
          maxConcurrent: config.http.maxConcurrent,
          headersTimeoutMs: config.http.headersTimeoutMs,
          requestTimeoutMs: config.http.requestTimeoutMs,
        },
        registry: this.metrics.registry,
        readiness: () => this.readiness(),
        state: stateQuery(this.o.topologies, () => this.runners),
        events,
        asOf: asOfQuery(this.o.topologies, () => this.runners, upcastEvent),
        views: viewQueries({
          projections: this.o.projections ?? [],
          runners: () => this.projectionRunners,
          router: () => door.router,
          peerTimeoutMs: config.http.forwardTimeoutMs,
          ...(peerTls !== undefined ? { peerTls } : {}),
        }),
        frontDoor: door,
        ...(config.http.sql ? { sql: this.sqlRoute() } : {}),
        consoleFiles: consoleFiles(),
        catalog: catalogQuery({
          topologies: this.o.topologies,
          projections: this.o.projections ?? [],
          commands: config.http.commands,
        }),
        cluster: clusterQuery({
          groups: [
            ...this.o.topologies.map((t) => ({
              name: t.definition.name,
              kind: 'topology' as const,
              partitions: t.definition.partitions,
            })),
            ...(this.o.projections ?? []).map((p) => ({
              name: p.definition.name,
              kind: 'projection' as const,
              partitions: p.definition.partitions,
            })),
          ],
          local: () => this.snapshot(door.self),
          owners: () => this.owners,
          self: () => door.self,
          timeoutMs: config.http.forwardTimeoutMs,
          ...(peerTls !== undefined ? { peerTls } : {}),
        }),
        deadLetters: {
          topologies: this.o.topologies.map((t) => ({
            name: t.definition.name,
            commands: t.topics.commands,
            deadLetters: t.topics.deadLetters,
          })),
          store: (this.deadLetters = new KafkaDeadLetters(
            createKafka(config.kafka, `${config.kafka.clientId}-dlq`, this.logger, this.kafkaLogs),
          )),
          replay: this.commands!.replay,
          // Where it came from, where it went and who asked: never the command's payload.
          onReplayed: (r) =>
            r.error === undefined
              ? this.logger.info(r, 'dead letter replayed')
              : this.logger.warn(r, 'dead letter not replayed'),
        },
      })
      this.route(door)
      const served = (r: (typeof HTTP_ROUTES)[number]) =>
        r.method === 'GET' || (r.path === '/sql' ? config.http.sql : config.http.commands)
      this.logger.info(
        {
          url: this.httpAddress,
          advertisedUrl: this.advertisedUrl,
          commands: config.http.commands,
          sql: config.http.sql,
          tls: tls !== undefined,
          // Names only: the tokens themselves are never in the config, nor here.
          auth: httpAuthEnabled(config.http)
            ? {
                tokens: auth.tokens.map((t) => `${t.name}:${t.permissions.join('+')}`),
                clientCerts: auth.clientCerts.map((c) => `${c.subject}:${c.permissions.join('+')}`),
                protectHealth: auth.protectHealth,
                protectMetrics: auth.protectMetrics,
              }
            : 'off',
        },
        `http listening (${HTTP_ROUTES.filter(served)
          .map((r) => (r.method === 'GET' ? r.path : `${r.method} ${r.path}`))
          .join(', ')})`,
      )
    }
    for (const topology of this.o.topologies) {
      const name = topology.definition.name
      const runner = (this.o.createRunner ?? ((o) => new TopologyRunner(o)))({
        topology,
        config,
        kafka: createKafka(config.kafka, `${config.kafka.clientId}-${name}`, this.logger, this.kafkaLogs),
        logger: this.logger,
        ...(this.advertisedUrl !== undefined ? { advertisedUrl: this.advertisedUrl } : {}),
        listener: this.listenerFor(name),
        onFatal: (e) => {
          this.fatal ??= e
          this.logger.fatal({ err: e, topology: name }, `stopping the worker: ${e.message}`)
          void this.stop()
        },
      })
      this.runners.push(runner)
      await runner.start()
      this.logger.info(
        { topology: name, commands: topology.topics.commands, brokers: config.kafka.brokers },
        'topology started',
      )
    }
    for (const projection of this.o.projections ?? []) {
      const name = projection.definition.name
      const runner = new ProjectionRunner({
        projection,
        config,
        kafka: createKafka(config.kafka, `${config.kafka.clientId}-${name}`, this.logger, this.kafkaLogs),
        logger: this.logger,
        ...(this.advertisedUrl !== undefined ? { advertisedUrl: this.advertisedUrl } : {}),
        listener: {
          ...this.withGroupHooks(name, 'projection', projectionListener(this.metrics, name)),
          routerStateChanged: (_task, _from, to) => {
            if (to === TaskState.RUNNING) setImmediate(() => this.checkUp())
          },
        },
        onFatal: (e) => {
          this.fatal ??= e
          this.logger.fatal({ err: e, projection: name }, `stopping the worker: ${e.message}`)
          void this.stop()
        },
      })
      this.projectionRunners.push(runner)
      await runner.start()
      this.logger.info(
        { projection: name, sources: projection.sources.map((s) => s.topic) },
        'projection started',
      )
    }
    this.checkUp() // a worker with no partitions assigned is ready as soon as its groups are joined
  }

  /**
   * The HTTP front door before the port is known: commands (when http.commands; an accepted reply with the
   * positions of its events, read from the event index like `events` reads it, routed), no routing yet.
   */
  private frontDoor(events: EventQueries, peerTls: PeerTls | undefined): FrontDoorOptions {
    const { http } = this.o.config
    const names = this.o.topologies.map((t) => t.definition.name)
    // Also what dead letters are replayed through (POST /dead-letters/<topology>/replay), commands over HTTP or not.
    this.commands = new CommandGateway(this.o.topologies, this.o.config, this.logger)
    const door: FrontDoorOptions = {
      self: `${hostname()}:${process.pid}`,
      forwardTimeoutMs: http.forwardTimeoutMs,
      ...(peerTls !== undefined ? { peerTls } : {}),
    }
    door.commands = {
      topologies: names,
      ...(http.commands ? { send: this.commands.send } : {}),
      maxBodyBytes: http.maxBodyBytes,
      positions: replyPositions({
        topologies: this.o.topologies,
        events,
        router: () => door.router,
        peerTimeoutMs: http.forwardTimeoutMs,
        ...(peerTls !== undefined ? { peerTls } : {}),
      }),
    }
    return door
  }

  /** POST /sql (http.sql): read-only queries over this worker's topologies and projections, loaded per query. */
  private sqlRoute(): SqlRoute {
    const { config } = this.o
    const kafka = createKafka(config.kafka, `${config.kafka.clientId}-sql`, this.logger, this.kafkaLogs)
    return sqlRoute({
      sources: [...this.o.topologies, ...(this.o.projections ?? [])],
      topics: new KafkaCommittedTopics(kafka, `${config.kafka.clientId}-sql`),
      timeoutMs: config.http.sqlTimeoutMs,
      maxRows: config.http.sqlMaxRows,
      maxBodyBytes: Math.min(64 * 1024, config.http.maxBodyBytes),
      onAnswered: (a) => this.logger.debug(a, 'sql query answered'),
    })
  }

  /** Once listening: this worker's name and advertised URL, and the router over the groups' owners. */
  private route(door: FrontDoorOptions): void {
    const { config } = this.o
    const a = this.http?.address()
    const port = a && typeof a === 'object' ? a.port : config.http.port
    this.advertisedUrl = advertisedUrlOf(
      config.http.host,
      port,
      config.http.advertisedUrl,
      machine(),
      config.http.tls !== undefined ? 'https' : 'http',
    )
    if (this.advertisedUrl === undefined)
      this.logger.warn(
        { host: config.http.host },
        'http is bound to a wildcard address and http.advertisedUrl is not set: other workers cannot forward reads to this one',
      )
    door.self = this.advertisedUrl ?? door.self
    this.owners = new KafkaOwnerDirectory(
      createKafka(config.kafka, `${config.kafka.clientId}-routing`, this.logger, this.kafkaLogs),
      [
        ...this.o.topologies.map((t) => ({
          name: t.definition.name,
          groupId: t.applicationId,
          topic: t.topics.commands,
        })),
        ...(this.o.projections ?? []).map((p) => ({
          name: p.definition.name,
          groupId: p.applicationId,
          topic: p.topics.repartition,
        })),
      ],
    )
    door.router = aggregateRouter({
      topologies: this.o.topologies,
      runners: () => this.runners,
      projections: this.o.projections ?? [],
      projectionRunners: () => this.projectionRunners,
      directory: this.owners,
      self: door.self,
      ...(this.advertisedUrl !== undefined ? { advertisedUrl: this.advertisedUrl } : {}),
    })
  }

  /**
   * With TLS or SASL: one connect to the cluster before anything else starts, so that wrong credentials or an
   * untrusted certificate stop the start at once with a ConfigError (exit 2) naming the broker and what to check,
   * instead of every client retrying them (src/kafka/connection-check.ts). Logs the connection's settings, the
   * password as ***.
   */
  private async checkKafka(): Promise<void> {
    const kafka = this.o.config.kafka
    if (!isSecured(kafka)) return
    const connection = describeKafkaConnection(kafka)
    if (connection.tls !== 'off' && !connection.tls.verifyBroker)
      this.logger.warn(
        "kafka.ssl.rejectUnauthorized is false: the brokers' certificates are not verified, so anyone on the path can pose as the cluster",
      )
    if (connection.tls === 'off' && kafka.sasl?.mechanism === 'plain')
      this.logger.warn('SASL PLAIN without TLS: the password crosses the network in clear; turn kafka.ssl on')
    const check = await checkKafkaConnection(kafka)
    if (check.reached)
      this.logger.info({ kafka: connection, answeredBy: check.broker }, 'kafka connection checked')
    else
      this.logger.warn(
        { kafka: connection, reason: check.reason },
        'kafka connection not checked: no broker answered yet (the clients retry)',
      )
  }

  /** Graceful stop, bounded by config.shutdownTimeoutMs. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const deadline = this.o.config.shutdownTimeoutMs
      let timedOut = false
      const timer = new Promise<void>((r) => setTimeout(() => ((timedOut = true), r()), deadline).unref())
      await Promise.race([
        Promise.allSettled([...this.runners, ...this.projectionRunners].map((r) => r.stop())),
        timer,
      ])
      await new Promise<void>((r) => {
        if (!this.http) return r()
        this.http.close(() => r())
        this.http.closeIdleConnections() // keep-alive scrapers must not hold the shutdown
      })
      await Promise.allSettled([this.commands?.close(), this.owners?.close(), this.deadLetters?.close()])
      if (timedOut) this.logger.warn({ deadlineMs: deadline }, 'shutdown deadline passed; exiting anyway')
      this.logger.info('worker stopped')
      this.resolveDone(this.fatal || timedOut ? 1 : 0)
    })()
    return this.stopping
  }
}

/** This machine's name and first external IPv4 address (for {hostname} and {ip} in http.advertisedUrl). */
function machine(): { hostname: string; ip?: string } {
  const ip = Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address
  return { hostname: hostname(), ...(ip !== undefined ? { ip } : {}) }
}

/** The PEM files of http.tls, read; a file that cannot be read is a ConfigError naming its key. */
function loadHttpTls(tls: WorkerConfig['http']['tls']): HttpTls | undefined {
  if (tls === undefined) return undefined
  const read = (key: string, file: string) => {
    try {
      return readFileSync(file)
    } catch (e) {
      throw new ConfigError(`http.tls.${key} ${file}: cannot read it: ${(e as Error).message}`)
    }
  }
  return {
    cert: read('cert', tls.cert),
    key: read('key', tls.key),
    ...(tls.ca !== undefined ? { ca: read('ca', tls.ca) } : {}),
    requestClientCert: tls.requestClientCert,
  }
}
