/**
 * CPU time and memory of processes and threads from /proc (Linux), to tell where the cores go
 * during a measured window: the subject's main thread, its other threads (signature workers,
 * GC, libuv), and the servers.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** utime + stime of a /proc stat file in seconds, or NaN when it is gone. */
function cpuSecondsOf(statFile: string): number {
  try {
    const text = readFileSync(statFile, 'utf8')
    // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
  } catch {
    return Number.NaN
  }
}

export interface ProcessCpu {
  readonly totalSeconds: number
  /** Per thread id; the main thread's id is the pid. */
  readonly threads: ReadonlyMap<number, number>
}

export function processCpu(pid: number): ProcessCpu {
  const threads = new Map<number, number>()
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      threads.set(Number(tid), cpuSecondsOf(`/proc/${pid}/task/${tid}/stat`))
    }
  } catch {
    // The process is gone; its total below is NaN too.
  }
  return { totalSeconds: cpuSecondsOf(`/proc/${pid}/stat`), threads }
}

/** Busy and total CPU seconds of the whole machine, summed over its cores (/proc/stat). */
function machineCpuSeconds(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? ''
    const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number)
    const total = ticks.reduce((a, b) => a + b, 0)
    // idle and iowait are the 4th and 5th fields.
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0)
    return { busy: (total - idle) / TICKS_PER_SECOND, total: total / TICKS_PER_SECOND }
  } catch {
    return { busy: Number.NaN, total: Number.NaN }
  }
}

/** Peak and current resident set size in MiB (VmHWM, VmRSS), or NaN when unknown. */
export function memoryMiB(pid: number): { peakRssMiB: number; rssMiB: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kib = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN)
    return { peakRssMiB: kib('VmHWM') / 1024, rssMiB: kib('VmRSS') / 1024 }
  } catch {
    return { peakRssMiB: Number.NaN, rssMiB: Number.NaN }
  }
}

/** Share of one core (1.0 = one core busy) used by each watched process over a window. */
export interface CpuUse {
  readonly [process: string]: number
}

export interface CpuWindow {
  /** Ends the window: cores used by each process, and by the subject's threads when given. */
  end(): CpuUse
}

/**
 * Starts a window over the named processes. The one named `subject` is also split into its
 * main thread and the rest (worker threads, GC and libuv threads); the two busiest of the rest
 * are listed on their own, which on ingest are the signature workers. `machine` is what all
 * processes used and `elsewhere` what the unnamed ones (other people's work on a shared
 * machine) took: a figure measured while `elsewhere` is high was starved of cores.
 */
export function startCpuWindow(pids: Readonly<Record<string, number>>, subject?: string): CpuWindow {
  const startedMs = performance.now()
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processCpu(pid)]))
  const machineBefore = machineCpuSeconds()
  return {
    end() {
      const seconds = (performance.now() - startedMs) / 1000
      const machineAfter = machineCpuSeconds()
      const use: Record<string, number> = {}
      let watched = 0
      for (const [name, pid] of Object.entries(pids)) {
        const after = processCpu(pid)
        const start = before[name] as ProcessCpu
        use[name] = (after.totalSeconds - start.totalSeconds) / seconds
        watched += use[name] as number
        if (name !== subject) continue
        const perThread = [...after.threads].map(([tid, cpu]) => ({
          tid,
          cores: (cpu - (start.threads.get(tid) ?? 0)) / seconds,
        }))
        const main = perThread.find((t) => t.tid === pid)?.cores ?? Number.NaN
        const others = perThread.filter((t) => t.tid !== pid).sort((a, b) => b.cores - a.cores)
        use[`${name}.mainThread`] = main
        use[`${name}.otherThreads`] = others.reduce((sum, t) => sum + t.cores, 0)
        others.slice(0, 2).forEach((t, i) => {
          use[`${name}.busiestOtherThread${i + 1}`] = t.cores
        })
      }
      const cores = machineAfter.total - machineBefore.total > 0 ? availableParallelism() : Number.NaN
      use.machine =
        ((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)) * cores
      use.elsewhere = (use.machine as number) - watched
      return Object.fromEntries(Object.entries(use).map(([k, v]) => [k, Math.round(v * 1000) / 1000]))
    },
  }
}

/**
 * Waits until processes other than `ours` use less than `maxOtherCores` over a 1-second sample,
 * or until `maxWaitMs` has passed; returns what they used in the last sample. On a shared
 * machine this keeps a burst of someone else's work from landing in one run only.
 */
export async function waitForQuietMachine(
  ours: readonly number[],
  options: { maxOtherCores: number; maxWaitMs: number },
): Promise<number> {
  const deadline = performance.now() + options.maxWaitMs
  for (;;) {
    const window = startCpuWindow(Object.fromEntries(ours.map((pid) => [String(pid), pid])))
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    const elsewhere = window.end().elsewhere ?? Number.NaN
    if (!(elsewhere > options.maxOtherCores) || performance.now() > deadline) return elsewhere
  }
}
