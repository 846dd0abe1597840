import { ConfigError } from '../errors.ts'
import { topicSpecs } from '../kafka/topics.ts'
import { loadTopology } from '../topology/loader.ts'

export async function validateCommand(file: string): Promise<number> {
  try {
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

export async function describeCommand(file: string): Promise<number> {
  const t = await loadTopology(file)
  const d = t.definition
  const lines = [
    `Topology: ${d.name} (consumer group ${t.applicationId})`,
    `  Decider: commands ${Object.keys(t.decider.commands).join(', ')}; events ${Object.keys(t.decider.events).join(', ')}`,
    `  Serialization: ${d.serialization}; dedupe window: ${d.dedupe.perAggregate} commands per aggregate; on decide error: ${d.errors.onDecideError}`,
    `  Topics:`,
    ...topicSpecs(t).map(
      (s) =>
        `    ${s.role.padEnd(12)} ${s.topic} (${s.numPartitions} partitions${
          Object.keys(s.configs).length
            ? ', ' +
              Object.entries(s.configs)
                .map(([k, v]) => `${k}=${v}`)
                .join(', ')
            : ''
        })`,
    ),
    `  Tasks: ${d.partitions}, one per ${t.topics.commands} partition; task p:`,
    `    source ${t.topics.commands}[p] -> decide/evolve -> sinks ${t.topics.events}[p], ${t.topics.changelog}[p], ${t.topics.replies}, ${t.topics.deadLetters}`,
    `    transactional.id ${t.applicationId}-${t.topics.commands}-<p>; state <stateDir>/${d.name}/<p>`,
  ]
  console.log(lines.join('\n'))
  return 0
}
