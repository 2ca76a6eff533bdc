/**
 * Which process listens on a TCP port: how `npm start` tells its own service from another run's
 * that answers on the same port (a 200 from /healthz says nothing about whose process it is).
 * Linux: the listening socket's inode from /proc/net/tcp{,6}, found among the process's file
 * descriptors. Elsewhere: `lsof`. Undefined when neither can tell.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'

const LISTEN = '0A'

/** Inodes of the sockets listening on the port (any address); undefined without /proc/net/tcp. */
function listeningInodes(port: number): Set<string> | undefined {
  if (!existsSync('/proc/net/tcp')) return undefined
  const inodes = new Set<string>()
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = readFileSync(table, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      const local = fields[1]
      if (local === undefined || fields[3] !== LISTEN) continue
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) !== port) continue
      const inode = fields[9]
      if (inode !== undefined && inode !== '0') inodes.add(inode)
    }
  }
  return inodes
}

function socketInodesOf(pid: number): Set<string> | undefined {
  let fds: string[]
  try {
    fds = readdirSync(`/proc/${pid}/fd`)
  } catch {
    return undefined
  }
  const inodes = new Set<string>()
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (match?.[1] !== undefined) inodes.add(match[1])
    } catch {
      // Closed while listed.
    }
  }
  return inodes
}

function lsofListeners(port: number): number[] | undefined {
  const result = spawnSync('lsof', ['-nP', `-iTCP:${port}`, '-sTCP:LISTEN', '-Fp'], {
    encoding: 'utf8',
    timeout: 3_000,
  })
  if (result.error !== undefined || result.status === null) return undefined
  return result.stdout
    .split('\n')
    .filter((l) => l.startsWith('p'))
    .map((l) => Number(l.slice(1)))
}

/** Whether `pid` is a process listening on the port; undefined when this machine cannot tell. */
export function listensOn(pid: number, port: number): boolean | undefined {
  const inodes = listeningInodes(port)
  if (inodes === undefined) return lsofListeners(port)?.includes(pid)
  if (inodes.size === 0) return false
  const own = socketInodesOf(pid)
  if (own === undefined) return undefined
  for (const inode of inodes) if (own.has(inode)) return true
  return false
}

export interface PortHolder {
  readonly pid: number
  /** Its command line and working folder (which clone it runs from), when readable. */
  readonly command: string
  readonly cwd: string | undefined
}

/** The process listening on the port, when it can be found (another user's cannot, on Linux). */
export function portHolder(port: number): PortHolder | undefined {
  const inodes = listeningInodes(port)
  let pid: number | undefined
  if (inodes === undefined) {
    pid = lsofListeners(port)?.[0]
  } else if (inodes.size > 0) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      const own = socketInodesOf(Number(entry))
      if (own !== undefined && [...inodes].some((i) => own.has(i))) {
        pid = Number(entry)
        break
      }
    }
  }
  if (pid === undefined) return undefined
  return { pid, command: commandOf(pid), cwd: cwdOf(pid) }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 200)
  } catch {
    const ps = spawnSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8', timeout: 3_000 })
    return ps.stdout?.trim().slice(0, 200) ?? ''
  }
}

function cwdOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/cwd`)
  } catch {
    return undefined
  }
}

/** "pid 8676 (node … services/aggregator/main.ts, in /home/x/other-clone)", or what is known. */
export function describeHolder(port: number): string {
  const holder = portHolder(port)
  if (holder === undefined) return 'a process this user cannot see (another user, or a system service)'
  return `pid ${holder.pid} (${holder.command || 'command unknown'}${holder.cwd === undefined ? '' : `, in ${holder.cwd}`})`
}
