/**
 * The in-memory twin of the consumer loop: implements the ConsumerControl port the task manager drives (pause,
 * resume, seek) and fetches from a MemoryLog partition at its position, handing each fetch to the task manager as
 * src/kafka/consumer-loop.ts hands kafkajs batches to it. A committed transaction moves the position on.
 */
import type { ConsumerControl } from '../runtime/ports.ts'
import type { TaskManager } from '../runtime/task-manager.ts'
import type { MemoryLog } from './memory-log.ts'

export class MemoryConsumer implements ConsumerControl {
  readonly paused = new Set<number>()
  readonly positions = new Map<number, bigint>()
  /** Every call the task manager made, e.g. 'pause 0,1', 'seek 0@12', 'resume 0' (for tests). */
  readonly calls: string[] = []

  constructor(
    private readonly log: MemoryLog,
    private readonly topic: string,
  ) {}

  pause(partitions: readonly number[]): void {
    for (const p of partitions) this.paused.add(p)
    this.calls.push(`pause ${partitions.join(',')}`)
  }

  resume(partitions: readonly number[]): void {
    for (const p of partitions) this.paused.delete(p)
    this.calls.push(`resume ${partitions.join(',')}`)
  }

  seek(partition: number, offset: bigint): void {
    this.positions.set(partition, offset)
    this.calls.push(`seek ${partition}@${offset}`)
  }

  /** Whether a fetch of the partition would return records now (it is not paused and has records at its position). */
  hasWaiting(partition: number): boolean {
    return (
      !this.paused.has(partition) &&
      this.log.inputRecords(this.topic, partition, this.positions.get(partition) ?? 0n).length > 0
    )
  }

  /** One fetch of the partition from its position, handed to the task manager. Nothing when paused. */
  async poll(manager: TaskManager, partition: number): Promise<void> {
    if (this.paused.has(partition)) return
    const records = this.log.inputRecords(this.topic, partition, this.positions.get(partition) ?? 0n)
    await manager.handleBatch(partition, records, {
      current: () => true,
      committed: (last) => void this.positions.set(partition, last + 1n),
    })
  }
}
