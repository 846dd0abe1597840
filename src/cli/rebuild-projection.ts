/**
 * `decider rebuild <projection.yaml>`: projects every view again from the beginning of the source events, for when
 * the projector changed (its code, its `version`). The projection's workers must be stopped. It deletes what the
 * old projector made: the repartition topic, the views changelog, the projection's and its routers' consumer groups
 * (their offsets), and the local view stores under this machine's state dir. The next worker recreates the topics
 * and projects every source event from offset 0. A view store left on another machine is of the old generation:
 * its worker clears it on restore (README "Read side").
 */
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { UsageError } from '../errors.ts'
import { routerGroupId, type ProjectionTopology } from '../topology/projection-loader.ts'
import { cliConfig, cliKafka, withAdmin } from './common.ts'

export interface RebuildProjectionOptions {
  config?: string
  stateDir?: string
  dryRun?: boolean
  timeout: string
}

export async function rebuildProjectionCommand(
  p: ProjectionTopology,
  o: RebuildProjectionOptions,
): Promise<number> {
  const config = await cliConfig(o.config)
  const stateDir = o.stateDir ?? config.stateDir
  const groups = [p.applicationId, ...p.sources.map((s) => routerGroupId(p, s.topic))]
  const topics = [p.topics.repartition, p.topics.changelog]
  const local = path.join(stateDir, p.definition.name)
  if (o.dryRun) {
    console.log(
      `rebuild of projection ${p.definition.name} would delete topics ${topics.join(', ')}, consumer groups ${groups.join(', ')} and ${local}; the next worker projects every event of ${p.sources.map((s) => s.topic).join(', ')} again`,
    )
    return 0
  }
  await withAdmin(cliKafka(config), async (admin) => {
    for (const g of groups) {
      const members = await admin.groupMemberCount(g)
      if (members > 0)
        throw new UsageError(
          `consumer group ${g} has ${members} member(s): stop the workers running projection ${p.definition.name} first, then rebuild`,
        )
    }
    const deleted = await admin.deleteTopics(topics, Number(o.timeout))
    const gone = await admin.deleteGroups(groups)
    console.log(
      `deleted topics: ${deleted.join(', ') || '(none)'}; consumer groups: ${gone.join(', ') || '(none)'}`,
    )
  })
  await rm(local, { recursive: true, force: true })
  console.log(
    `removed ${local}. Start the workers: projection ${p.definition.name} is projected again from the start of ${p.sources.map((s) => s.topic).join(', ')}`,
  )
  return 0
}
