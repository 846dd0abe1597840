import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { SINGLE_NODE_BROKER_SETTINGS } from '../../src/devkafka/properties.ts'

// Unit tier (no broker): docker-compose.yml must run Kafka with the same settings as the local launcher
// (src/devkafka), and every file it takes from the repository must exist — or be explicitly listed as pending.

const root = fileURLToPath(new URL('../..', import.meta.url))

interface ComposeService {
  image?: string
  build?: string | { context?: string; dockerfile?: string }
  command?: string | string[]
  environment?: Record<string, string | number | boolean | null> | string[]
  volumes?: (string | { type?: string; source?: string; target?: string })[]
  depends_on?: string[] | Record<string, { condition?: string }>
  healthcheck?: { test?: string | string[] }
  deploy?: { replicas?: number }
}

const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, ComposeService>
}

function service(name: string): ComposeService {
  const s = compose.services[name]
  if (!s) throw new Error(`docker-compose.yml has no service '${name}'`)
  return s
}

function environment(s: ComposeService): Record<string, string> {
  const env = s.environment ?? {}
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((e) => {
        const i = e.indexOf('=')
        return i < 0 ? [e, ''] : [e.slice(0, i), e.slice(i + 1)]
      }),
    )
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]))
}

/** The apache/kafka image's env -> server.properties rule: drop KAFKA_, lowercase, `___`->`-`, `__`->`_`, `_`->`.`. */
function kafkaEnvToProperty(name: string): string {
  return name
    .replace(/^KAFKA_/, '')
    .toLowerCase()
    .replace(/___/g, '\u0000')
    .replace(/__/g, '\u0001')
    .replace(/_/g, '.')
    .replace(/\u0000/g, '-')
    .replace(/\u0001/g, '_')
}

/** Host paths of bind mounts (short `./host:/container[:mode]` and long `{ type: bind, source }` syntax). */
function bindMountSources(s: ComposeService): string[] {
  const out: string[] = []
  for (const v of s.volumes ?? []) {
    if (typeof v === 'string') {
      const host = v.split(':')[0] ?? ''
      if (host.startsWith('.') || host.startsWith('/')) out.push(host)
    } else if (v.type === 'bind' && v.source) {
      out.push(v.source)
    }
  }
  return out.map((p) => p.replace(/^\.\//, ''))
}

/**
 * Repository files docker-compose.yml references that later issues add; listed explicitly instead of faking them.
 * When one of them is added, this test fails until it is removed from here (so the list stays honest).
 */
const pendingPaths: string[] = [
  // (none: issue 5 added config/prometheus, config/grafana, the Dockerfile and config/worker.docker.yaml)
]

describe('docker-compose.yml', () => {
  it('runs the kafka service with the same settings as the local launcher (SINGLE_NODE_BROKER_SETTINGS)', () => {
    const kafka = service('kafka')
    expect(kafka.image).toMatch(/^apache\/kafka:4\.\d+\.\d+$/) // official image, pinned tag
    const props = Object.fromEntries(
      Object.entries(environment(kafka))
        .filter(([k]) => k.startsWith('KAFKA_'))
        .map(([k, v]) => [kafkaEnvToProperty(k), v]),
    )
    for (const [key, value] of Object.entries(SINGLE_NODE_BROKER_SETTINGS)) {
      expect(props[key], `docker-compose.yml kafka: ${key}`).toBe(value)
    }
    // The settings the exactly-once core depends on are among those compared (not silently dropped from the constant).
    expect(Object.keys(SINGLE_NODE_BROKER_SETTINGS)).toEqual(
      expect.arrayContaining([
        'offsets.topic.replication.factor',
        'transaction.state.log.replication.factor',
        'transaction.state.log.min.isr',
        'auto.create.topics.enable',
        'group.initial.rebalance.delay.ms',
      ]),
    )
    expect(props['auto.create.topics.enable']).toBe('false')
    // KRaft single node: it votes for itself, and every listener it declares has a security protocol.
    expect(props['controller.quorum.voters']).toMatch(/^1@kafka:\d+$/)
    const protocols = new Set(
      (props['listener.security.protocol.map'] ?? '').split(',').map((e) => e.split(':')[0]),
    )
    for (const l of (props['listeners'] ?? '').split(',')) expect(protocols).toContain(l.split(':')[0])
  })

  it('has a kafka healthcheck, and topics-init creates the bank-account topics after kafka is healthy', () => {
    expect(service('kafka').healthcheck?.test).toBeDefined()
    const init = service('topics-init')
    expect(init.image).toBe(service('kafka').image)
    expect(init.depends_on).toEqual({ kafka: { condition: 'service_healthy' } })
    const script = [init.command].flat().join('\n')
    for (const topic of [
      'bank-account.commands',
      'bank-account.events',
      'bank-account.replies',
      'bank-account.dlq',
    ]) {
      expect(script).toContain(`--topic ${topic}`)
    }
    expect(script).toMatch(/--topic bank-account\.events --config retention\.ms=-1/)
    expect(script).toMatch(/--topic bank-account-snapshots-changelog --config cleanup\.policy=compact/)
    expect(script).toContain('--partitions 6')
  })

  it('runs two workers against kafka:9092 after the topics exist', () => {
    const worker = service('worker')
    expect(environment(worker).KAFKA_BROKERS).toBe('kafka:9092')
    expect(worker.deploy?.replicas).toBe(2)
    expect(worker.depends_on).toEqual({ 'topics-init': { condition: 'service_completed_successfully' } })
    expect([worker.command].flat().join(' ')).toBe(
      'node bin/decider.js run topologies/bank-account.yaml --config config/worker.docker.yaml',
    )
  })

  it('references only repository files that exist, apart from the explicitly pending ones', () => {
    const referenced = new Set<string>()
    for (const s of Object.values(compose.services)) for (const p of bindMountSources(s)) referenced.add(p)
    const worker = service('worker')
    if (worker.build !== undefined) {
      const b = typeof worker.build === 'string' ? { context: worker.build } : worker.build
      referenced.add(join(b.context ?? '.', b.dockerfile ?? 'Dockerfile').replace(/^\.\//, ''))
    }
    const args = [worker.command].flat().filter((a): a is string => typeof a === 'string')
    for (const a of args) if (/^(bin|config|topologies)\//.test(a)) referenced.add(a)

    expect(referenced.size).toBeGreaterThan(0)
    const missing = [...referenced].filter((p) => !existsSync(join(root, p))).sort()
    expect(missing, 'referenced by docker-compose.yml but missing (and not pending)').toEqual(
      missing.filter((p) => pendingPaths.includes(p)),
    )
    for (const p of pendingPaths) {
      expect(referenced.has(p), `pending path ${p} is not referenced by docker-compose.yml`).toBe(true)
      expect(existsSync(join(root, p)), `${p} exists now: remove it from pendingPaths`).toBe(false)
    }
  })

  it('the worker image: slim Node 22 base (an LTS line), built from the compiled package, non-root, exec-form CMD = the compose command, HEALTHCHECK on /readyz with node', () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')
    const instructions = dockerfile
      .replace(/\\\n\s*/g, ' ')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
    const from = instructions.filter((l) => l.startsWith('FROM '))
    expect(from.at(-1)).toMatch(/^FROM node:22-slim\b/)
    const final = instructions.slice(instructions.lastIndexOf(from.at(-1)!))
    // The image runs the compiled package: dist/ from the build stage, no TypeScript sources of the runtime.
    expect(instructions).toContain('RUN npm run build && npm prune --omit=dev && npm cache clean --force')
    expect(final).toContain('COPY --from=build /app/dist ./dist')
    expect(final.filter((l) => /^COPY .*\bsrc\b/.test(l))).toEqual([])
    const user = final.filter((l) => l.startsWith('USER ')).at(-1)
    expect(user).toBeDefined()
    expect(user).not.toMatch(/^USER (root|0)\b/)
    const cmd = final.filter((l) => l.startsWith('CMD ')).at(-1)!
    const argv = JSON.parse(cmd.slice(4)) as string[] // exec form: a JSON array, no shell between Docker and node
    expect(argv.join(' ')).toBe([service('worker').command].flat().join(' '))
    const health = final.find((l) => l.startsWith('HEALTHCHECK '))!
    expect(health).toContain('/readyz')
    expect(health).toMatch(/CMD \["node",/)
    expect(health).not.toMatch(/curl|wget/)
    // Every COPY source is in the repository.
    for (const l of final.filter((x) => x.startsWith('COPY ') && !x.includes('--from='))) {
      const parts = l.split(/\s+/).slice(1, -1)
      for (const src of parts) expect(existsSync(join(root, src)), `Dockerfile: ${l}`).toBe(true)
    }
  })

  it('workers listen on 0.0.0.0, Prometheus scrapes them on that port, Grafana gets its datasource and the dashboards', () => {
    const workerConfig = parse(readFileSync(join(root, 'config/worker.docker.yaml'), 'utf8')) as {
      http: { host: string; port: number }
    }
    expect(workerConfig.http.host).toBe('0.0.0.0')
    const prom = parse(readFileSync(join(root, 'config/prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: {
        job_name: string
        metrics_path?: string
        dns_sd_configs?: { names: string[]; port: number }[]
      }[]
    }
    const job = prom.scrape_configs.find((j) => j.dns_sd_configs?.some((d) => d.names.includes('worker')))
    expect(job, 'a scrape job for the worker service').toBeDefined()
    expect(job!.metrics_path ?? '/metrics').toBe('/metrics')
    expect(job!.dns_sd_configs![0]!.port).toBe(workerConfig.http.port)

    const grafana = service('grafana')
    const mountTarget = (host: string) =>
      (grafana.volumes ?? [])
        .map((v) => (typeof v === 'string' ? v.split(':') : []))
        .find(([h]) => h === host)?.[1]
    const provider = parse(
      readFileSync(join(root, 'config/grafana/provisioning/dashboards/kafka-decider.yml'), 'utf8'),
    ) as {
      providers: { options: { path: string } }[]
    }
    expect(provider.providers[0]!.options.path).toBe(mountTarget('./config/grafana/dashboards'))
    expect(mountTarget('./config/grafana/provisioning')).toBe('/etc/grafana/provisioning')
    const ds = parse(
      readFileSync(join(root, 'config/grafana/provisioning/datasources/prometheus.yml'), 'utf8'),
    ) as {
      datasources: { uid: string; type: string; url: string }[]
    }
    expect(ds.datasources[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' })
    const dashboard = readFileSync(join(root, 'config/grafana/dashboards/kafka-decider.json'), 'utf8')
    const uids = new Set([...dashboard.matchAll(/"uid":\s*"([^"]+)"/g)].map((m) => m[1]))
    uids.delete('kafka-decider') // the dashboard's own uid
    expect([...uids]).toEqual([ds.datasources[0]!.uid])
  })

  it('translates image env names like the apache/kafka image does', () => {
    expect(kafkaEnvToProperty('KAFKA_TRANSACTION_STATE_LOG_MIN_ISR')).toBe('transaction.state.log.min.isr')
    expect(kafkaEnvToProperty('KAFKA_LISTENER_NAME_CONTROLLER__SASL___X')).toBe(
      'listener.name.controller_sasl-x',
    )
  })
})
