/**
 * CPU time of processes, from /proc (Linux): what a run cost, independent of how long it took on a shared machine.
 * `cpuSeconds(pid)` is utime + stime of the process and of its live descendants (so a wrapper's JVM or node child
 * counts); `brokerPid` finds the broker JVM serving a host:port of a local single-node broker.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

let ticks: number | undefined
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      ticks = 100
    }
  }
  return ticks
}

/** [ppid, utime + stime in ticks] of a process, or undefined when it is gone. */
function stat(pid: number): [number, number] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return [Number(f[1]), Number(f[11]) + Number(f[12])]
  } catch {
    return undefined
  }
}

function pids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
}

/** CPU seconds used so far by `pid` and its live descendants (NaN when `pid` is unknown or gone). */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN
  const own = stat(pid)
  if (own === undefined) return NaN
  const children = new Map<number, number[]>()
  const cpu = new Map<number, number>()
  for (const p of pids()) {
    const s = stat(p)
    if (s === undefined) continue
    cpu.set(p, s[1])
    const list = children.get(s[0]) ?? []
    list.push(p)
    children.set(s[0], list)
  }
  let total = 0
  const todo = [pid]
  for (let guard = 0; todo.length > 0 && guard < 10_000; guard++) {
    const p = todo.pop()!
    total += p === pid ? own[1] : (cpu.get(p) ?? 0)
    todo.push(...(children.get(p) ?? []))
  }
  return total / clockTicks()
}

/** The pid of the Kafka broker JVM (kafka.Kafka) whose properties file listens on `port`, if any. */
export function brokerPid(port: number): number | undefined {
  for (const p of pids()) {
    let args: string[]
    try {
      args = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')
    } catch {
      continue
    }
    const at = args.indexOf('kafka.Kafka')
    if (at < 0 || !args[at + 1]) continue
    try {
      const props = readFileSync(args[at + 1]!, 'utf8')
      if (new RegExp(`^listeners=.*:${port}\\b`, 'm').test(props)) return p
    } catch {
      continue
    }
  }
  return undefined
}

/** CPU seconds of a set of processes, read at once (NaN if any is unknown). */
export function cpuOf(pidList: (number | undefined)[]): number {
  return pidList.reduce<number>((sum, p) => sum + cpuSeconds(p), 0)
}
