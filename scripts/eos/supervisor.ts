/** The verifier's worker supervision: the worker slots, and the chaos (SIGKILLs, scaling, broker restarts). */
import path from 'node:path'
import type { Sender } from './sender.ts'
import type { VerifyOptions } from './verify-types.ts'
import { spawnWorker, waitForLog, type WorkerProcess } from './worker.ts'
import type { Cmd } from './workload.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Worker slots: slot i has its own state dir; a restarted worker keeps its slot (and its LevelDB). */
export function workerSlots(file: string | string[], dir: string, brokers: string[]) {
  const slots: (WorkerProcess | undefined)[] = []
  const start = (i: number) => {
    const w = spawnWorker(file, path.join(dir, `state-${i}`), brokers, { DECIDER_LOG_LEVEL: 'info' })
    slots[i] = w
    watch(i, w)
    return w
  }
  const outputs: string[] = []
  const stopping = new Set<WorkerProcess>()
  const unexpected: string[] = []
  const watch = (i: number, w: WorkerProcess) =>
    void w.exited.then((code) => {
      if (!stopping.has(w)) unexpected.push(`worker ${i} exited by itself (code ${code})`)
    })
  const stop = async (i: number, signal: NodeJS.Signals) => {
    const w = slots[i]
    if (!w) return
    stopping.add(w)
    w.kill(signal)
    await w.exited
    outputs.push(w.output())
    slots[i] = undefined
  }
  const alive = () => slots.map((w, i) => (w ? i : -1)).filter((i) => i >= 0)
  return { slots, outputs, start, stop, alive, unexpected }
}

export type WorkerSlots = ReturnType<typeof workerSlots>

/** Chaos: until sending is done and every requested fault happened. Returns the faults it caused. */
export async function runChaos(
  o: VerifyOptions,
  workers: WorkerSlots,
  random: () => number,
  sender: Sender,
  cmds: Cmd[],
): Promise<{ kills: number; scaleCycles: number; brokerRestarts: number }> {
  const { slots, start, stop, alive } = workers
  let sendingDone = false
  void sender.sending.then(
    () => (sendingDone = true),
    () => (sendingDone = true),
  )

  let kills = 0
  let scaleCycles = 0
  let brokerRestarts = 0
  const waitUntilProcessing = (w: WorkerProcess) =>
    waitForLog(w, /task running/, 1, 120_000).catch((e: unknown) =>
      o.log(`worker not running: ${(e as Error).message.slice(0, 200)}`),
    )
  while (
    !sendingDone ||
    kills < o.kills ||
    scaleCycles < o.scaleCycles ||
    brokerRestarts < (o.restartBroker ? o.brokerRestarts : 0)
  ) {
    await sleep(200 + random() * 1500)
    const r = random()
    // Broker restarts mid-stream (after a third of the commands), not while the topics are still empty.
    if (
      o.restartBroker &&
      brokerRestarts < o.brokerRestarts &&
      (sender.sent() > cmds.length / 3 || sendingDone) &&
      r < 0.3
    ) {
      o.log(`chaos: restarting a broker (sent ${sender.sent()})`)
      await o.restartBroker()
      brokerRestarts++
    } else if (scaleCycles < o.scaleCycles && r < 0.3 && o.workers > 1) {
      o.log(`chaos: scale ${o.workers} -> 1 (sent ${sender.sent()})`)
      const keep = alive()[0]!
      await Promise.all(
        alive()
          .filter((i) => i !== keep)
          .map((i) => stop(i, 'SIGTERM')),
      )
      await sleep(3000 + random() * 3000)
      o.log(`chaos: scale 1 -> ${o.workers}`)
      const restarted: WorkerProcess[] = []
      for (let i = 0; i < o.workers; i++) if (!slots[i]) restarted.push(start(i))
      await Promise.all(restarted.map((w) => waitUntilProcessing(w)))
      scaleCycles++
    } else {
      const victims = alive()
      const i = victims[Math.floor(random() * victims.length)]!
      o.log(`chaos: SIGKILL worker ${i} (sent ${sender.sent()})`)
      await stop(i, 'SIGKILL')
      // Wait until the new process runs tasks again: the next kill must land while commands are processed,
      // not while the group is still rebalancing (where a kill tests little).
      await waitUntilProcessing(start(i))
      kills++
    }
  }
  return { kills, scaleCycles, brokerRestarts }
}
