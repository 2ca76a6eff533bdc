/**
 * Admission (decode, topic, registry, class, ed25519 signature) spread over worker threads.
 * The main thread of ingest then only moves bytes between MQTT and Kafka.
 *
 * Messages that arrive in the same turn of the event loop are handed over together, split
 * evenly across the workers (round robin, least loaded first), so a hand-off costs little per
 * message under load and adds at most one event-loop turn when idle. With 0 workers admission
 * runs on the calling thread.
 *
 * A message must not be able to stop ingest by taking its workers down (docs/architecture.md,
 * "Ingest admission workers"). A worker that crashes, or that has not answered the hand-off it
 * works on within `timeoutMs` (a loop: it is terminated), is lost and replaced; the messages it
 * held go to the workers again. The hand-off it was working on (its oldest unanswered once the
 * worker has exited: a worker takes them in order, and Node delivers every answer it posted
 * before 'exit') is to blame: its messages are handed over one at a time from then on, and a message
 * lost with a worker while alone in its hand-off `maxLosses` times is given up as
 * ADMISSION_WORKER_LOST (dead-lettered and acknowledged by the pipeline). Messages under
 * suspicion never run on the main thread, where a loop would stop everything.
 */
import { Worker } from 'node:worker_threads'
import type { DeviceRecord } from '../../../core/identity/registry.ts'
import { indexRegistry } from '../../../core/identity/registry.ts'
import type { DecodeLimits } from '../../../core/telemetry/decode.ts'
import { type Admitted, admitSafely } from '../domain/admit.ts'
import type { AdmitPoolHealth } from '../ports.ts'

export interface AdmitWorkerData {
  readonly registry: readonly DeviceRecord[]
  readonly limits: DecodeLimits
}
/**
 * One hand-off: the payloads packed back to back into one buffer that is transferred, not
 * copied. (A payload from mqtt.js is a view into a larger socket read; posting the view itself
 * would clone its whole underlying buffer, once per hand-off.)
 */
export interface AdmitRequest {
  readonly id: number
  readonly topics: readonly string[]
  readonly payloads: ArrayBuffer
  /** End offset of each payload in `payloads`; payload i starts where i − 1 ends. */
  readonly ends: readonly number[]
}

/** Packs payloads into one fresh buffer for `AdmitRequest`. */
export function packPayloads(payloads: readonly Uint8Array[]): { payloads: ArrayBuffer; ends: number[] } {
  let total = 0
  const ends: number[] = []
  for (const p of payloads) {
    total += p.byteLength
    ends.push(total)
  }
  const packed = new Uint8Array(total)
  let at = 0
  for (const p of payloads) {
    packed.set(p, at)
    at += p.byteLength
  }
  return { payloads: packed.buffer, ends }
}

/** The payloads of an `AdmitRequest`, as views into its buffer. */
export function unpackPayloads(request: Pick<AdmitRequest, 'payloads' | 'ends'>): Uint8Array[] {
  const views: Uint8Array[] = []
  let start = 0
  for (const end of request.ends) {
    views.push(new Uint8Array(request.payloads, start, end - start))
    start = end
  }
  return views
}
/** The first message of a worker: its registry is indexed, it takes hand-offs. */
export const ADMIT_WORKER_READY = 'ready'

export interface AdmitResponse {
  readonly id: number
  readonly results: readonly Admitted[]
}

export interface AdmitPool {
  admit(topic: string, payload: Uint8Array): Promise<Admitted>
  health(nowMs: number): AdmitPoolHealth
  close(): Promise<void>
}

interface Job {
  readonly topic: string
  readonly payload: Uint8Array
  readonly resolve: (result: Admitted) => void
  /** Workers lost while this job was alone in the hand-off they worked on. */
  losses: number
  /** Lost with a worker beside other jobs: handed over alone from now on, to find the culprit. */
  suspect: boolean
}

interface PoolWorker {
  worker: Worker | undefined
  /** The worker said it is ready (registry indexed): it counts as running. */
  ready: boolean
  outstanding: number
  /** Since when it works on its oldest unanswered hand-off (undefined when it holds none or is not ready). */
  busySinceMs: number | undefined
  /** A worker of this slot was lost once: until its replacement is ready the slot is down, not starting. */
  lost: boolean
  /** It failed or is being terminated: it gets no more hand-offs, and is lost once it has exited. */
  retiring: boolean
  /** Gives the worker up (crashed, exited, or terminated for not answering). */
  lose: ((why: string) => void) | undefined
}

interface HandOff {
  readonly jobs: Job[]
  readonly owner: PoolWorker
  readonly sentAtMs: number
}

/** A crashed worker's replacement waits this long, doubling up to the maximum, while they keep crashing. */
const RESPAWN_INITIAL_DELAY_MS = 100
const RESPAWN_MAX_DELAY_MS = 5_000
/** A failed worker that has not exited after this long is lost all the same. */
const EXIT_WAIT_MS = 2_000
export const DEFAULT_ADMISSION_TIMEOUT_MS = 10_000
export const DEFAULT_ADMISSION_MAX_LOSSES = 2

export function createAdmitPool(options: {
  readonly workers: number
  readonly registry: readonly DeviceRecord[]
  readonly limits: DecodeLimits
  /** The worker's entry module (tests: a worker that fails on purpose). */
  readonly workerUrl?: URL
  /**
   * A worker busy on one hand-off for this long gets no more (a thread starved of CPU, say:
   * /healthz says so). Only matters when it is shorter than `timeoutMs`.
   */
  readonly stuckMs?: number
  /** A worker that has not answered the hand-off it works on for this long is terminated (a loop). */
  readonly timeoutMs?: number
  /** Losses alone in a hand-off after which a message is given up (ADMISSION_WORKER_LOST). */
  readonly maxLosses?: number
}): AdmitPool {
  if (options.workers === 0) {
    const registry = indexRegistry(options.registry)
    return {
      admit: async (topic, payload) => admitSafely(topic, payload, registry, options.limits),
      health: () => ({
        workers: 0,
        running: 0,
        starting: 0,
        crashes: 0,
        lastCrash: undefined,
        oldestHandOffAgeMs: 0,
      }),
      close: async () => {},
    }
  }
  const workerUrl = options.workerUrl ?? new URL('./admit-worker-entry.mjs', import.meta.url)
  const timeoutMs = options.timeoutMs ?? DEFAULT_ADMISSION_TIMEOUT_MS
  const maxLosses = options.maxLosses ?? DEFAULT_ADMISSION_MAX_LOSSES
  let queue: Job[] = []
  let flushScheduled = false
  let nextId = 0
  let closing = false
  let crashes = 0
  let lastCrash: string | undefined
  let respawnDelayMs = RESPAWN_INITIAL_DELAY_MS
  const inFlight = new Map<number, HandOff>()
  const workerData: AdmitWorkerData = { registry: options.registry, limits: options.limits }
  let inlineRegistry: ReturnType<typeof indexRegistry> | undefined
  /** Admission on this thread, while every worker is being replaced (never for a suspect). */
  const admitHere = (job: Job) => {
    inlineRegistry ??= indexRegistry(options.registry)
    job.resolve(admitSafely(job.topic, job.payload, inlineRegistry, options.limits))
  }
  const alone = (job: Job) => job.suspect || job.losses > 0
  const oldestOf = (slot: PoolWorker): HandOff | undefined => {
    for (const handOff of inFlight.values()) if (handOff.owner === slot) return handOff
    return undefined
  }

  const schedule = () => {
    if (!flushScheduled) {
      flushScheduled = true
      setImmediate(flush)
    }
  }

  const spawn = (slot: PoolWorker) => {
    const worker = new Worker(workerUrl, { workerData })
    slot.worker = worker
    slot.retiring = false
    let failed = false
    let saidReady = false
    /** Why it failed, as first seen ('error', or the watchdog): the loss is counted on 'exit'. */
    let failure: string | undefined
    worker.on('message', (message: AdmitResponse | typeof ADMIT_WORKER_READY) => {
      if (failed) return
      if (message === ADMIT_WORKER_READY) {
        saidReady = true
        if (slot.retiring) return
        slot.ready = true
        // The clock of its first hand-off starts now: loading the worker is no answer owed.
        if (oldestOf(slot)) slot.busySinceMs = Date.now()
        return
      }
      const { id, results } = message
      const handOff = inFlight.get(id)
      if (!handOff) return
      inFlight.delete(id)
      slot.outstanding -= handOff.jobs.length
      slot.busySinceMs = !slot.retiring && oldestOf(slot) ? Date.now() : undefined
      respawnDelayMs = RESPAWN_INITIAL_DELAY_MS
      for (const [i, job] of handOff.jobs.entries()) job.resolve(results[i] as Admitted)
    })
    /**
     * The loss itself, once the worker has exited. Not on 'error': Node sends a worker's error
     * on another port than its answers, so answers it posted before it died may still be on
     * their way, and its oldest unanswered hand-off then is not the one it died on (a genuine
     * message beside the poison was blamed, and given up after two such losses). Before 'exit'
     * Node delivers every answer the worker posted.
     */
    const lose = (why: string) => {
      if (failed || closing) return
      failed = true
      crashes += 1
      lastCrash = why
      // A worker that never said it was ready died of itself (its start), not of a message.
      const culprit = saidReady ? oldestOf(slot) : undefined
      slot.worker = undefined
      slot.retiring = false
      slot.ready = false
      slot.lost = true
      slot.outstanding = 0
      slot.busySinceMs = undefined
      slot.lose = undefined
      process.emitWarning(`ingest admission worker failed: ${why}`)
      // The lost worker's messages go to the other workers (or its replacement) again.
      for (const [id, handOff] of inFlight) {
        if (handOff.owner !== slot) continue
        inFlight.delete(id)
        for (const job of handOff.jobs) {
          if (handOff === culprit && handOff.jobs.length === 1) job.losses += 1
          else if (handOff === culprit) job.suspect = true
          if (job.losses >= maxLosses) {
            job.resolve({
              ok: false,
              reason: 'ADMISSION_WORKER_LOST',
              detail: `${job.losses} admission workers lost on this message alone; the last: ${why}`.slice(
                0,
                400,
              ),
            })
          } else queue.push(job)
        }
      }
      if (queue.length > 0) schedule()
      const delay = respawnDelayMs
      respawnDelayMs = Math.min(RESPAWN_MAX_DELAY_MS, respawnDelayMs * 2)
      setTimeout(() => {
        if (closing) return
        spawn(slot)
        if (queue.length > 0) schedule()
      }, delay).unref()
    }
    /** It failed: no more hand-offs; the loss is counted when it has exited (or did not in time). */
    const retire = (why: string) => {
      if (failed || closing) return
      failure ??= why
      if (slot.retiring) return
      slot.retiring = true
      slot.ready = false
      slot.busySinceMs = undefined
      setTimeout(() => lose(failure ?? why), EXIT_WAIT_MS).unref()
    }
    slot.lose = retire
    worker.on('error', (error) => retire(error.message))
    worker.on('exit', (code) => lose(failure ?? `exited with code ${code}`))
    worker.unref()
  }

  const pool: PoolWorker[] = Array.from({ length: options.workers }, () => {
    const slot: PoolWorker = {
      worker: undefined,
      ready: false,
      lost: false,
      retiring: false,
      outstanding: 0,
      busySinceMs: undefined,
      lose: undefined,
    }
    spawn(slot)
    return slot
  })

  /** Terminates the workers that have not answered their current hand-off within the timeout. */
  const terminateHung = (nowMs: number) => {
    for (const slot of pool) {
      const { worker, busySinceMs } = slot
      if (!worker || slot.retiring || busySinceMs === undefined || nowMs - busySinceMs < timeoutMs) continue
      slot.lose?.(
        `no answer to a hand-off in ${nowMs - busySinceMs} ms (timeout ${timeoutMs} ms): terminated`,
      )
      void worker.terminate()
    }
  }
  const watchdog = Number.isFinite(timeoutMs)
    ? setInterval(() => terminateHung(Date.now()), Math.max(20, Math.min(1_000, timeoutMs / 4)))
    : undefined
  watchdog?.unref()

  const post = (owner: PoolWorker, slice: Job[], sentAtMs: number) => {
    const id = nextId++
    if (owner.ready && !oldestOf(owner)) owner.busySinceMs = sentAtMs
    inFlight.set(id, { jobs: slice, owner, sentAtMs })
    owner.outstanding += slice.length
    const packed = packPayloads(slice.map((j) => j.payload))
    const request: AdmitRequest = { id, topics: slice.map((j) => j.topic), ...packed }
    owner.worker?.postMessage(request, [packed.payloads])
  }

  function flush() {
    flushScheduled = false
    const jobs = queue
    queue = []
    const nowMs = Date.now()
    terminateHung(nowMs)
    const stuckBeforeMs = nowMs - (options.stuckMs ?? Number.POSITIVE_INFINITY)
    const isStuck = (p: PoolWorker) => p.busySinceMs !== undefined && p.busySinceMs < stuckBeforeMs
    const alive = pool.filter((p) => p.worker !== undefined && !p.retiring && !isStuck(p))
    const suspects = jobs.filter(alone)
    const plain = jobs.filter((j) => !alone(j))
    if (alive.length === 0) {
      if (pool.some((p) => p.worker !== undefined)) {
        // Every worker is stuck: the jobs wait (in a loop on this thread they would stop ingest).
        queue = jobs
        setTimeout(schedule, 100).unref()
        return
      }
      // Every worker is being replaced (they keep crashing): admission goes on here, slower;
      // suspects wait for a worker (the replacement's start schedules them).
      for (const job of plain) admitHere(job)
      queue = suspects
      return
    }
    const byLoad = alive.sort((a, b) => a.outstanding - b.outstanding)
    let w = 0
    // A suspect alone in its hand-off: a worker lost on it is lost on it alone.
    for (const job of suspects) post(byLoad[w++ % byLoad.length] as PoolWorker, [job], nowMs)
    if (plain.length === 0) return
    const share = Math.ceil(plain.length / alive.length)
    for (let i = 0; i < plain.length; i += share)
      post(byLoad[w++ % byLoad.length] as PoolWorker, plain.slice(i, i + share), nowMs)
  }

  return {
    admit: (topic, payload) =>
      new Promise((resolve) => {
        queue.push({ topic, payload, resolve, losses: 0, suspect: false })
        schedule()
      }),
    health(nowMs) {
      let oldest = nowMs
      for (const slot of pool) if (slot.busySinceMs !== undefined) oldest = Math.min(oldest, slot.busySinceMs)
      return {
        workers: pool.length,
        running: pool.filter((p) => p.ready).length,
        starting: pool.filter((p) => !p.ready && !p.lost && !p.retiring).length,
        crashes,
        lastCrash,
        oldestHandOffAgeMs: nowMs - oldest,
      }
    },
    async close() {
      closing = true
      if (watchdog) clearInterval(watchdog)
      await Promise.all(pool.map((p) => p.worker?.terminate()))
    },
  }
}
