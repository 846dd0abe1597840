/**
 * CPU time of processes, from /proc (Linux): what a run cost, independent of how long it took on a shared machine.
 * `cpuSeconds(pid)` is utime + stime of the process and of its live descendants (so a wrapper's JVM or node child
 * counts); `brokerPid` finds the broker process listening on the first bootstrap address (through the socket's inode).
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'

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

/**
 * A /proc stat file (of a process or of one of its threads): its name, ppid and utime + stime in ticks, or undefined
 * when it is gone.
 */
function readStat(file: string): { comm: string; ppid: number; ticks: number } | undefined {
  try {
    const s = readFileSync(file, 'utf8')
    // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return {
      comm: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')),
      ppid: Number(f[1]),
      ticks: Number(f[11]) + Number(f[12]),
    }
  } catch {
    return undefined
  }
}

/** [ppid, utime + stime in ticks] of a process, or undefined when it is gone. */
function stat(pid: number): [number, number] | undefined {
  const s = readStat(`/proc/${pid}/stat`)
  return s && [s.ppid, s.ticks]
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

function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>()
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try {
      text = readFileSync(f, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      // local_address is "<hex ip>:<hex port>", st 0A is LISTEN, inode is column 10
      const local = cols[1]
      if (!local || cols[3] !== '0A') continue
      if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port && cols[9]) inodes.add(cols[9])
    }
  }
  return inodes
}

/**
 * The pid of the process listening on `port` whose command line looks like a Kafka broker (as src/devkafka checks
 * /proc/<pid>/cmdline before it trusts a pid): found through the socket's inode in /proc/<pid>/fd. Undefined when
 * there is none this user can see (e.g. a broker in a container).
 */
export function listenerPid(port: number): number | undefined {
  const inodes = listeningInodes(port)
  if (inodes.size === 0) return undefined
  let pids: string[] = []
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p))
  } catch {
    return undefined
  }
  for (const pid of pids) {
    let fds: string[] = []
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      let link = ''
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`)
      } catch {
        continue
      }
      const m = /^socket:\[(\d+)\]$/.exec(link)
      if (!m?.[1] || !inodes.has(m[1])) continue
      try {
        if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kafka')) return undefined
      } catch {
        return undefined
      }
      return Number(pid)
    }
  }
  return undefined
}

/** The broker's pid: the one devkafka started (if any), else the listener of the first bootstrap address's port. */
export function brokerPid(brokers: string[], started?: number): number | undefined {
  if (started !== undefined) return started
  const port = Number(brokers[0]?.slice(brokers[0].lastIndexOf(':') + 1))
  return Number.isInteger(port) && port > 0 ? listenerPid(port) : undefined
}

/** CPU seconds of a set of processes, read at once (NaN if any is unknown). */
export function cpuOf(pidList: (number | undefined)[]): number {
  return pidList.reduce<number>((sum, p) => sum + cpuSeconds(p), 0)
}

/** Busy and total CPU time of the whole machine so far (ticks, all cores), from /proc/stat's first line. */
export function machineTicks(): { busy: number; total: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal (guest time is inside user)
    const idle = (f[3] ?? 0) + (f[4] ?? 0)
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0)
    return { busy: total - idle, total }
  } catch {
    return { busy: NaN, total: NaN }
  }
}

/** The share of the machine's CPU time that was busy between two machineTicks() readings (0..1). */
export function busyShare(a: { busy: number; total: number }, b: { busy: number; total: number }): number {
  const total = b.total - a.total
  return total > 0 ? (b.busy - a.busy) / total : NaN
}

/**
 * CPU seconds used so far by the threads of `pid` whose name (/proc/<pid>/task/<tid>/comm, 15 characters at most)
 * matches `name`: e.g. a JVM's JIT compiler threads ("C1 CompilerThre", "C2 CompilerThre"). NaN when `pid` is
 * unknown or gone. Threads that ended are not counted.
 */
export function threadCpuSeconds(pid: number | undefined, name: RegExp): number {
  if (pid === undefined) return NaN
  let tids: string[]
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return NaN
  }
  let total = 0
  for (const tid of tids) {
    // undefined: the thread ended between the listing and the read
    const s = readStat(`/proc/${pid}/task/${tid}/stat`)
    if (s !== undefined && name.test(s.comm)) total += s.ticks
  }
  return total / clockTicks()
}

/** A JVM's JIT compiler threads (HotSpot names them "C1 CompilerThreadN" / "C2 CompilerThreadN"). */
export const JIT_THREADS = /^C[12] CompilerThre/

/** Compiler threads under this share of one core over a window: a warm JVM (bench/warmup.ts). */
export const QUIET_CORES = 0.05
