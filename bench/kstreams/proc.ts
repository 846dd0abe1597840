/** CPU time of a process from /proc, and the pid of the broker listening on a port (Linux; NaN / undefined elsewhere). */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'

/** USER_HZ: the unit of utime and stime in /proc/<pid>/stat (100 on every Linux the bench runs on). */
const CLOCK_TICKS = 100

/** utime + stime of a process (all its threads), in seconds; NaN when unknown. */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may contain spaces and parentheses): state is field 3, utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(rest[11]) + Number(rest[12])) / CLOCK_TICKS
  } catch {
    return NaN
  }
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
