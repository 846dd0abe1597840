/** `decider topics create|check <topology>`: the five topics of a topology, as the worker wants them. */
import { topicSpecs } from '../kafka/topics.ts'
import { loadTopology } from '../topology/loader.ts'
import { cliConfig, cliKafka, withAdmin } from './common.ts'

export async function topicsCreateCommand(
  file: string,
  o: { config?: string; replicationFactor?: string },
): Promise<number> {
  const topology = await loadTopology(file)
  const config = await cliConfig(o.config)
  return withAdmin(cliKafka(config), async (admin) => {
    const rf = o.replicationFactor === undefined ? undefined : Number(o.replicationFactor)
    const { created } = await admin.ensureTopics(topology, {
      create: true,
      ...(rf !== undefined ? { replicationFactor: rf } : {}),
    })
    for (const s of topicSpecs(topology))
      console.log(`${created.includes(s.topic) ? 'created' : 'exists '}  ${s.role.padEnd(12)} ${s.topic}`)
    console.log(`topology ${topology.definition.name}: topics ok`)
    return 0
  })
}

export async function topicsCheckCommand(file: string, o: { config?: string }): Promise<number> {
  const topology = await loadTopology(file)
  const config = await cliConfig(o.config)
  return withAdmin(cliKafka(config), async (admin) => {
    const specs = topicSpecs(topology)
    const existing = new Set(await admin.topicNames())
    const missing = specs.filter((s) => !existing.has(s.topic))
    const problems = missing.map(
      (s) => `${s.role} topic ${s.topic} does not exist (create it: decider topics create ${file})`,
    )
    if (missing.length < specs.length)
      problems.push(...(await admin.checkTopics(specs.filter((s) => existing.has(s.topic)))))
    if (problems.length > 0) {
      console.error(
        `topology ${topology.definition.name}: the topics do not fit:\n  ${problems.join('\n  ')}`,
      )
      return 1
    }
    console.log(`topology ${topology.definition.name}: topics ok (${specs.map((s) => s.topic).join(', ')})`)
    return 0
  })
}
