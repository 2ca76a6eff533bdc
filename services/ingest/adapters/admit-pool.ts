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
export interface AdmitResponse {
  readonly id: number
  readonly results: readonly Decoded<Verified>[]
}

export interface AdmitPool {
  admit(topic: string, payload: Uint8Array): Promise<Decoded<Verified>>
  close(): Promise<void>
}

interface Job {
  readonly topic: string
  readonly payload: Uint8Array
  readonly resolve: (result: Decoded<Verified>) => void
}

interface PoolWorker {
  readonly worker: Worker
  outstanding: number
  dead: boolean
}

export function createAdmitPool(options: {
  readonly workers: number
  readonly registry: readonly DeviceRecord[]
  readonly limits: DecodeLimits
}): AdmitPool {
  if (options.workers === 0) {
    const registry = indexRegistry(options.registry)
    return {
      admit: async (topic, payload) => admitAndVerify(topic, payload, registry, options.limits),
      close: async () => {},
    }
  }
  let queue: Job[] = []
  let flushScheduled = false
  let nextId = 0
  const inFlight = new Map<number, { jobs: Job[]; owner: PoolWorker }>()
  const workerData: AdmitWorkerData = { registry: options.registry, limits: options.limits }
  let inlineRegistry: ReturnType<typeof indexRegistry> | undefined
  /** Admission on this thread: the fallback for the messages of a worker that died. */
  const admitHere = (job: Job) => {
    inlineRegistry ??= indexRegistry(options.registry)
    job.resolve(admitAndVerify(job.topic, job.payload, inlineRegistry, options.limits))
  }

  const pool: PoolWorker[] = Array.from({ length: options.workers }, () => {
    const entry: PoolWorker = {
      worker: new Worker(new URL('./admit-worker-entry.mjs', import.meta.url), { workerData }),
      outstanding: 0,
      dead: false,
    }
    entry.worker.on('message', ({ id, results }: AdmitResponse) => {
      const batch = inFlight.get(id)
      if (!batch) return
      inFlight.delete(id)
      entry.outstanding -= batch.jobs.length
      for (const [i, job] of batch.jobs.entries()) job.resolve(results[i] as Decoded<Verified>)
    })
    entry.worker.on('error', (error) => {
      // A crashed worker must not strand its messages: admit them here, and send it no more.
      entry.dead = true
      for (const [id, batch] of inFlight) {
        if (batch.owner !== entry) continue
        inFlight.delete(id)
        for (const job of batch.jobs) admitHere(job)
      }
      process.emitWarning(`ingest admission worker failed: ${error.message}`)
    })
    entry.worker.unref()
    return entry
  })

  const flush = () => {
    flushScheduled = false
    const jobs = queue
    queue = []
    const alive = pool.filter((p) => !p.dead)
    if (alive.length === 0) {
      for (const job of jobs) admitHere(job)
      return
    }
    const share = Math.ceil(jobs.length / alive.length)
    const byLoad = alive.sort((a, b) => a.outstanding - b.outstanding)
    for (let i = 0, w = 0; i < jobs.length; i += share, w++) {
      const owner = byLoad[w % byLoad.length] as PoolWorker
      const slice = jobs.slice(i, i + share)
      const id = nextId++
      inFlight.set(id, { jobs: slice, owner })
      owner.outstanding += slice.length
      const packed = packPayloads(slice.map((j) => j.payload))
      const request: AdmitRequest = { id, topics: slice.map((j) => j.topic), ...packed }
      owner.worker.postMessage(request, [packed.payloads])
    }
  }

  return {
    admit: (topic, payload) =>
      new Promise((resolve) => {
        queue.push({ topic, payload, resolve })
        if (!flushScheduled) {
          flushScheduled = true
          setImmediate(flush)
        }
      }),
    async close() {
      await Promise.all(pool.map((p) => p.worker.terminate()))
    },
  }
}
