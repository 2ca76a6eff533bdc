import { runToCompletion } from '../process.ts'
import type { Report } from '../progress.ts'
import { ensureTool } from './tools.ts'

export interface MosquittoInstall {
  readonly binary: string
  readonly version: string
}

/** Mosquitto from Debian (2.0.x: MQTT 5 and shared subscriptions). */
export async function ensureMosquitto(report: Report): Promise<MosquittoInstall> {
  const binary = await ensureTool({ binary: 'mosquitto', aptPackage: 'mosquitto', neededFor: 'MQTT' }, report)
  // `mosquitto -h` prints its version and exits non-zero; only the text matters.
  const { output } = await runToCompletion(binary, ['-h'], { timeoutMs: 10_000 })
  return { binary, version: /mosquitto version (\S+)/.exec(output)?.[1] ?? 'unknown' }
}
