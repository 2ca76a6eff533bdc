/**
 * Wall and CPU time of a job. CPU seconds stand beside wall seconds because the machines are
 * shared: with other work on both cores, wall time grows with the load while this process's CPU
 * time mostly does not.
 */
import { loadavg } from 'node:os'

export interface Timing {
  readonly wallS: number
  readonly cpuS: number
}

export async function timeIt<T>(job: () => T | Promise<T>): Promise<{ result: T; timing: Timing }> {
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const result = await job()
  const wallS = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  return { result, timing: { wallS, cpuS: (cpu.user + cpu.system) / 1e6 } }
}

/** The 1-minute load average: how busy the shared machine was around a measurement. */
export const loadAverage1m = (): number => Math.round((loadavg()[0] ?? 0) * 100) / 100
