/**
 * Admission (decode, topic, registry, class, ed25519 signature) spread over worker threads.
 * The main thread of ingest then only moves bytes between MQTT and Kafka.
 *
 * Messages that arrive in the same turn of the event loop are handed over together, split
 * evenly across the workers (round robin, least loaded first), so a hand-off costs little per
 * message under load and adds at most one event-loop turn when idle. With 0 workers admission
 * runs on the calling thread.
 */
import { Worker } from 'node:worker_threads'
import type { DeviceRecord } from '../../../core/identity/registry.ts'
import { indexRegistry } from '../../../core/identity/registry.ts'
import type { DecodeLimits } from '../../../core/telemetry/decode.ts'
import type { Decoded } from '../../../core/telemetry/reasons.ts'
import { admitAndVerify, type Verified } from '../domain/admit.ts'
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
  readonly results: readonly Decoded<Verified>[]
}

export interface AdmitPool {
  admit(topic: string, payload: Uint8Array): Promise<Decoded<Verified>>
  health(nowMs: number): AdmitPoolHealth
  close(): Promise<void>
}

interface Job {
  readonly topic: string
  readonly payload: Uint8Array
  readonly resolve: (result: Decoded<Verified>) => void
  readonly reject: (error: unknown) => void
  /** Hand-offs of this job lost with a crashed worker. */
  crashes: number
}

interface PoolWorker {
  worker: Worker | undefined
  /** The worker said it is ready (registry indexed): it counts as running. */
  ready: boolean
  outstanding: number
}

interface HandOff {
  readonly jobs: Job[]
  readonly owner: PoolWorker
  readonly sentAtMs: number
}

/** A crashed worker's replacement waits this long, doubling up to the maximum, while they keep crashing. */
const RESPAWN_INITIAL_DELAY_MS = 100
const RESPAWN_MAX_DELAY_MS = 5_000

export function createAdmitPool(options: {
  readonly workers: number
  readonly registry: readonly DeviceRecord[]
  readonly limits: DecodeLimits
  /** The worker's entry module (tests: a worker that fails on purpose). */
  readonly workerUrl?: URL
  /**
   * A worker that has not answered a hand-off for this long gets no more (a loop, say: what it
   * holds waits with it, /healthz says so and a supervisor restarts ingest).
   */
  readonly stuckMs?: number
}): AdmitPool {
  if (options.workers === 0) {
    const registry = indexRegistry(options.registry)
    return {
      admit: async (topic, payload) => admitAndVerify(topic, payload, registry, options.limits),
      health: () => ({ workers: 0, running: 0, crashes: 0, lastCrash: undefined, oldestHandOffAgeMs: 0 }),
      close: async () => {},
    }
  }
  const workerUrl = options.workerUrl ?? new URL('./admit-worker-entry.mjs', import.meta.url)
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
  /**
   * Admission on this thread: for a job that was with a crashed worker twice (it may be what
   * crashes them; if it throws here too, the message stays unacknowledged with the broker).
   */
  const admitHere = (job: Job) => {
    try {
      inlineRegistry ??= indexRegistry(options.registry)
      job.resolve(admitAndVerify(job.topic, job.payload, inlineRegistry, options.limits))
    } catch (error) {
      job.reject(error)
    }
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
    let failed = false
    worker.on('message', (message: AdmitResponse | typeof ADMIT_WORKER_READY) => {
      if (message === ADMIT_WORKER_READY) {
        slot.ready = true
        return
      }
      const { id, results } = message
      const handOff = inFlight.get(id)
      if (!handOff) return
      inFlight.delete(id)
      slot.outstanding -= handOff.jobs.length
      respawnDelayMs = RESPAWN_INITIAL_DELAY_MS
      for (const [i, job] of handOff.jobs.entries()) job.resolve(results[i] as Decoded<Verified>)
    })
    const lost = (why: string) => {
      if (failed || closing) return
      failed = true
      crashes += 1
      lastCrash = why
      slot.worker = undefined
      slot.ready = false
      slot.outstanding = 0
      process.emitWarning(`ingest admission worker failed: ${why}`)
      // A crashed worker must not strand its messages: they go to the other workers (or its
      // replacement) again; one that was with a crashed worker before is admitted here.
      for (const [id, handOff] of inFlight) {
        if (handOff.owner !== slot) continue
        inFlight.delete(id)
        for (const job of handOff.jobs) {
          job.crashes += 1
          if (job.crashes > 1) admitHere(job)
          else queue.push(job)
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
    worker.on('error', (error) => lost(error.message))
    worker.on('exit', (code) => lost(`exited with code ${code}`))
    worker.unref()
  }

  const pool: PoolWorker[] = Array.from({ length: options.workers }, () => {
    const slot: PoolWorker = { worker: undefined, ready: false, outstanding: 0 }
    spawn(slot)
    return slot
  })

  function flush() {
    flushScheduled = false
    const jobs = queue
    queue = []
    const stuckBeforeMs = Date.now() - (options.stuckMs ?? Number.POSITIVE_INFINITY)
    const stuck = new Set<PoolWorker>()
    for (const handOff of inFlight.values()) if (handOff.sentAtMs < stuckBeforeMs) stuck.add(handOff.owner)
    const alive = pool.filter((p) => p.worker !== undefined && !stuck.has(p))
    if (alive.length === 0 && stuck.size > 0) {
      // Every worker is stuck: the jobs wait (in a loop on this thread they would stop ingest).
      queue = jobs
      setTimeout(schedule, 100).unref()
      return
    }
    if (alive.length === 0) {
      // Every worker is being replaced (they keep crashing): admission goes on here, slower.
      for (const job of jobs) admitHere(job)
      return
    }
    const share = Math.ceil(jobs.length / alive.length)
    const byLoad = alive.sort((a, b) => a.outstanding - b.outstanding)
    const sentAtMs = Date.now()
    for (let i = 0, w = 0; i < jobs.length; i += share, w++) {
      const owner = byLoad[w % byLoad.length] as PoolWorker
      const slice = jobs.slice(i, i + share)
      const id = nextId++
      inFlight.set(id, { jobs: slice, owner, sentAtMs })
      owner.outstanding += slice.length
      const packed = packPayloads(slice.map((j) => j.payload))
      const request: AdmitRequest = { id, topics: slice.map((j) => j.topic), ...packed }
      owner.worker?.postMessage(request, [packed.payloads])
    }
  }

  return {
    admit: (topic, payload) =>
      new Promise((resolve, reject) => {
        queue.push({ topic, payload, resolve, reject, crashes: 0 })
        schedule()
      }),
    health(nowMs) {
      let oldest = nowMs
      for (const handOff of inFlight.values()) oldest = Math.min(oldest, handOff.sentAtMs)
      return {
        workers: pool.length,
        running: pool.filter((p) => p.ready).length,
        crashes,
        lastCrash,
        oldestHandOffAgeMs: nowMs - oldest,
      }
    },
    async close() {
      closing = true
      await Promise.all(pool.map((p) => p.worker?.terminate()))
    },
  }
}
