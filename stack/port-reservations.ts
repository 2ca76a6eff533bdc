/**
 * Port reservations shared by every `npm start` on this machine: one file per port in a shared
 * folder (`<tmpdir>/gridroot-ports/<port>.json`, holding the reserving pid and run folder),
 * created atomically (O_EXCL), so two runs that probe the same free port in the same second
 * cannot both hand it to a service. Probing alone was check-then-bind: both runs saw 8080 free
 * and both gave it to their API, which binds seconds later.
 *
 * A reservation lasts as long as the process that made it: it is released on stop, and one
 * whose pid is gone is taken over. It binds nobody but gridroot runs; a foreign process that
 * takes the port is caught by the service's EADDRINUSE exit (stack/service-ports.ts).
 */
import { randomBytes } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isAlive } from './process.ts'

export interface PortReservation {
  readonly pid: number
  /** What reserved it, for messages: the run folder and the service. */
  readonly owner: string
  /** Tells this reservation from an earlier one of the same pid (a reused pid, a stale file). */
  readonly nonce: string
}

export interface PortReservations {
  readonly dir: string
  /** Reserves the port for this process; false when a live process holds it. */
  reserve(port: number, owner: string): boolean
  release(port: number): void
  releaseAll(): void
  /** The live reservation of a port, or undefined. */
  holder(port: number): PortReservation | undefined
}

/** The folder every clone shares; per user when another user made it unwritable. */
export function defaultReservationsDir(): string {
  const shared = join(tmpdir(), 'gridroot-ports')
  try {
    mkdirSync(shared, { recursive: true })
    // Sticky and world-writable, like /tmp: runs of other users reserve here too.
    chmodSync(shared, 0o1777)
    return shared
  } catch {
    const own = join(tmpdir(), `gridroot-ports-${process.getuid?.() ?? 'user'}`)
    mkdirSync(own, { recursive: true })
    return own
  }
}

export function createPortReservations(
  options: { readonly dir?: string; readonly pid?: number } = {},
): PortReservations {
  const dir = options.dir ?? defaultReservationsDir()
  const pid = options.pid ?? process.pid
  mkdirSync(dir, { recursive: true })
  const mine = new Map<number, string>()
  const file = (port: number) => join(dir, `${port}.json`)

  const read = (path: string): PortReservation | undefined => {
    try {
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<PortReservation>
      if (typeof parsed.pid !== 'number' || typeof parsed.nonce !== 'string') return undefined
      return { pid: parsed.pid, owner: String(parsed.owner ?? ''), nonce: parsed.nonce }
    } catch {
      return undefined
    }
  }
  const live = (r: PortReservation | undefined): r is PortReservation =>
    r !== undefined && (r.pid === pid || isAlive(r.pid))

  /**
   * Removes a dead process's reservation. It is first renamed aside and checked again, so a
   * fresh reservation another run made in the meantime is put back, never deleted.
   */
  const takeOverStale = (port: number, stale: PortReservation | undefined): void => {
    const aside = `${file(port)}.${pid}.${randomBytes(4).toString('hex')}`
    try {
      renameSync(file(port), aside)
    } catch {
      return
    }
    const moved = read(aside)
    if (moved !== undefined && moved.nonce !== stale?.nonce && live(moved)) {
      try {
        linkSync(aside, file(port))
      } catch {
        // Someone reserved it again already: theirs stands.
      }
    }
    rmSync(aside, { force: true })
  }

  const unreadableForLong = (path: string): boolean => {
    try {
      return Date.now() - statSync(path).mtimeMs > 10_000
    } catch {
      return true
    }
  }

  return {
    dir,
    reserve(port, owner) {
      if (mine.has(port)) return true
      for (let attempt = 0; attempt < 3; attempt++) {
        const nonce = randomBytes(8).toString('hex')
        try {
          const fd = openSync(file(port), 'wx', 0o644)
          try {
            writeSync(fd, JSON.stringify({ pid, owner, nonce } satisfies PortReservation))
          } finally {
            closeSync(fd)
          }
          mine.set(port, nonce)
          return true
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
        }
        const current = read(file(port))
        if (live(current)) return false
        // A file being written has no JSON yet: held, unless it stayed unreadable for seconds
        // (a run killed between creating and writing it).
        if (current === undefined && !unreadableForLong(file(port))) return false
        takeOverStale(port, current)
      }
      return false
    },
    release(port) {
      const nonce = mine.get(port)
      if (nonce === undefined) return
      mine.delete(port)
      if (read(file(port))?.nonce === nonce) rmSync(file(port), { force: true })
    },
    releaseAll() {
      for (const port of [...mine.keys()]) this.release(port)
    },
    holder(port) {
      const current = read(file(port))
      return live(current) ? current : undefined
    },
  }
}
