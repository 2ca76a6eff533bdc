/** The servers of the local stack, in the order they are listed to people. */
export const SERVER_NAMES = ['mosquitto', 'kafka', 'influxdb', 'anvil'] as const
export type ServerName = (typeof SERVER_NAMES)[number]

export type StackPhase = 'provision' | 'start' | 'probe' | 'ready' | 'stop' | 'reuse' | 'info'

/**
 * One line of progress. Structured so that a caller can log it as JSON (`stack up --json`) or
 * print it for people (`formatProgress`).
 */
export interface StackProgressEvent {
  readonly source: ServerName | 'stack'
  readonly phase: StackPhase
  readonly level: 'info' | 'warn'
  readonly msg: string
  readonly timeIso: string
  readonly data?: Readonly<Record<string, unknown>>
}

export type OnProgress = (event: StackProgressEvent) => void

export type Report = (
  phase: StackPhase,
  msg: string,
  extra?: { readonly level?: 'info' | 'warn'; readonly data?: Readonly<Record<string, unknown>> },
) => void

/** Binds the progress callback to one source so server modules only say what happened. */
export function reporter(source: ServerName | 'stack', onProgress: OnProgress | undefined): Report {
  return (phase, msg, extra = {}) => {
    if (onProgress === undefined) return
    const event: StackProgressEvent = {
      source,
      phase,
      level: extra.level ?? 'info',
      msg,
      timeIso: new Date().toISOString(),
      ...(extra.data === undefined ? {} : { data: extra.data }),
    }
    onProgress(event)
  }
}

export function formatProgress(event: StackProgressEvent): string {
  const where = event.source === 'stack' ? '' : ` ${event.source}:`
  const warn = event.level === 'warn' ? ' WARNING' : ''
  return `[stack]${warn}${where} ${event.msg}`
}

/** The default for people: one line per event on stderr, so stdout stays for results. */
export const printProgress: OnProgress = (event) => {
  console.error(formatProgress(event))
}
