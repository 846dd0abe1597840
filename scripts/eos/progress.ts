/** The verifier's progress monitor: the workers' group offsets on the commands topic, its lag and its stalls. */
import type { Admin } from 'kafkajs'
import type { Topology } from '../../src/topology/loader.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Samples the group's committed offsets vs the commands topic's end; tracks the longest stall. */
export class ProgressMonitor {
  maxStallMs = 0
  /** The longest time one partition with lag kept the same committed offset. */
  maxPartitionStallMs = 0
  private readonly partitionMoved = new Map<number, { offset: bigint; at: number }>()
  private timer: NodeJS.Timeout | undefined
  private lastTotal = -1n
  private lastMove = Date.now()
  private lag = -1n

  constructor(
    private readonly admin: Admin,
    private readonly t: Topology,
  ) {}

  start(): void {
    const tick = async () => {
      try {
        await this.sample()
      } catch {
        // broker restarting: the next sample will tell
      }
      this.timer = setTimeout(() => void tick(), 500)
    }
    void tick()
  }

  stop(): void {
    clearTimeout(this.timer)
  }

  private async sample(): Promise<void> {
    const [ends, committed] = await Promise.all([
      this.admin.fetchTopicOffsets(this.t.topics.commands),
      this.admin.fetchOffsets({ groupId: this.t.applicationId, topics: [this.t.topics.commands] }),
    ])
    const pos = new Map(
      committed[0]?.partitions.map((p) => [p.partition, BigInt(p.offset === '-1' ? '0' : p.offset)]) ?? [],
    )
    let total = 0n
    let lag = 0n
    const now = Date.now()
    for (const e of ends) {
      const c = pos.get(e.partition) ?? 0n
      total += c
      lag += BigInt(e.high) - c
      const seen = this.partitionMoved.get(e.partition)
      if (seen === undefined || seen.offset !== c || BigInt(e.high) === c) {
        this.partitionMoved.set(e.partition, { offset: c, at: now })
      } else {
        this.maxPartitionStallMs = Math.max(this.maxPartitionStallMs, now - seen.at)
      }
    }
    if (total !== this.lastTotal || lag === 0n) {
      this.lastTotal = total
      this.lastMove = now
    } else {
      this.maxStallMs = Math.max(this.maxStallMs, now - this.lastMove)
    }
    this.lag = lag
  }

  async waitForNoLag(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let zeroSince: number | undefined
    while (Date.now() < deadline) {
      await sleep(500)
      if (this.lag === 0n) {
        zeroSince ??= Date.now()
        if (Date.now() - zeroSince > 2000) return
      } else zeroSince = undefined
    }
    throw new Error(`the workers did not catch up within ${timeoutMs} ms (lag ${this.lag})`)
  }
}
