/** The machine the bench ran on (cores, CPU model, memory, Node, load average), from /proc when on Linux. */
import { readFileSync } from 'node:fs'
import type { BenchResult } from './types.ts'

export function machineInfo(): BenchResult['machine'] {
  let cpuModel = 'unknown'
  let memTotalMb = NaN
  try {
    cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpuModel
    memTotalMb = Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]) / 1024
  } catch {
    // not Linux
  }
  return { nproc: navigatorCores(), cpuModel, memTotalMb, node: process.version, loadAvgAtStart: loadAvg() }
}

function navigatorCores(): number {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('processor')).length
  } catch {
    return NaN
  }
}

function loadAvg(): number[] {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number)
  } catch {
    return []
  }
}
