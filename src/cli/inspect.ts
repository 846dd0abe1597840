import { ConfigError } from '../errors.ts'
import { kafkaConnectionLines } from '../config/kafka-config.ts'
import { cliConfig, DEFAULT_CONFIG } from './common.ts'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { projectionTopicSpecs, topicSpecs, type TopicSpec } from '../kafka/topics.ts'
import { loadTopology } from '../topology/loader.ts'
import {
  isProjectionText,
  loadProjection,
  routerGroupId,
  type ProjectionTopology,
} from '../topology/projection-loader.ts'

const isProjectionFile = async (file: string) =>
  isProjectionText(await readFile(file, 'utf8').catch(() => ''))

export async function validateCommand(file: string): Promise<number> {
  try {
    if (await isProjectionFile(file)) {
      const p = await loadProjection(file)
      console.log(
        `${file}: ok (projection ${p.definition.name}, sources: ${p.sources.map((x) => x.topic).join(', ')})`,
      )
      return 0
    }
    const t = await loadTopology(file)
    console.log(
      `${file}: ok (topology ${t.definition.name}, commands: ${Object.keys(t.decider.commands).join(', ')})`,
    )
    return 0
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message)
      return 2
    }
    throw e
  }
}

const specLines = (specs: TopicSpec[]) =>
  specs.map(
    (s) =>
      `    ${s.role.padEnd(12)} ${s.topic} (${s.numPartitions} partitions${
        Object.keys(s.configs).length
          ? ', ' +
            Object.entries(s.configs)
              .map(([k, v]) => `${k}=${v}`)
              .join(', ')
          : ''
      })`,
  )

function describeProjection(p: ProjectionTopology): string[] {
  const d = p.definition
  return [
    `Projection: ${d.name} (consumer group ${p.applicationId}; projector version ${p.projection.version})`,
    `  Sources: ${p.sources.map((s) => `${s.topic}${s.topology ? ` (topology ${s.topology.definition.name}, upcast)` : ' (as stored)'}`).join(', ')}`,
    `  Serialization: ${d.serialization}; on project error: ${d.errors.onProjectError}`,
    `  Topics:`,
    ...specLines(projectionTopicSpecs(p)),
    `  Stage 1, route: one task per source partition, group ${p.sources.map((s) => routerGroupId(p, s.topic)).join(', ')}:`,
    `    source <events>[s] -> key() -> sink ${p.topics.repartition}[partition of the view key], ${p.topics.deadLetters}`,
    `  Stage 2, project: ${d.partitions} tasks, one per ${p.topics.repartition} partition; task q:`,
    `    source ${p.topics.repartition}[q] -> project() -> sinks ${p.topics.changelog}[q], ${p.topics.deadLetters}`,
    `    transactional.id ${p.applicationId}-${p.topics.repartition}-<q>; state <stateDir>/${d.name}/<q>`,
  ]
}

/**
 * The Kafka connection of the worker config the CLI and `run` would use (secrets masked: the password shows as
 * ***, with where it is read from).
 */
async function describeConnection(configFile: string | undefined): Promise<string[]> {
  const config = await cliConfig(configFile)
  const from = configFile ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : 'defaults')
  return [
    `  Kafka connection (worker config: ${from}, with the environment):`,
    ...kafkaConnectionLines(config.kafka, '    '),
  ]
}

export async function describeCommand(file: string, configFile?: string): Promise<number> {
  if (await isProjectionFile(file)) {
    const lines = describeProjection(await loadProjection(file))
    console.log([...lines, ...(await describeConnection(configFile))].join('\n'))
    return 0
  }
  const t = await loadTopology(file)
  const d = t.definition
  const lines = [
    `Topology: ${d.name} (consumer group ${t.applicationId})`,
    `  Decider: commands ${Object.keys(t.decider.commands).join(', ')}; events ${Object.keys(t.decider.events).join(', ')}`,
    `  Serialization: ${d.serialization}; dedupe window: ${d.dedupe.perAggregate} commands per aggregate; on decide error: ${d.errors.onDecideError}`,
    `  Topics:`,
    ...specLines(topicSpecs(t)),
    `  Tasks: ${d.partitions}, one per ${t.topics.commands} partition; task p:`,
    `    source ${t.topics.commands}[p] -> decide/evolve -> sinks ${t.topics.events}[p], ${t.topics.changelog}[p], ${t.topics.replies}, ${t.topics.deadLetters}`,
    `    transactional.id ${t.applicationId}-${t.topics.commands}-<p>; state <stateDir>/${d.name}/<p>`,
    ...(await describeConnection(configFile)),
  ]
  console.log(lines.join('\n'))
  return 0
}
