/**
 * ed25519 verification spread over worker threads: verifying costs far more than anything else
 * on the ingest path (~200 µs against a few µs to parse), so it gets the cores. Jobs queue up
 * and each idle worker takes everything queued (up to `maxBatch`) in one message, which keeps
 * the thread hand-off cost per signature small under load and latency low when idle.
 * With 0 workers it verifies on the calling thread.
 */
import type { KeyObject } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { verifyBytes } from '../../../core/identity/keys.ts'

export interface VerifyJob {
  readonly publicKeyHex: string
  readonly publicKey: KeyObject
  readonly bytes: Uint8Array
  readonly signature: string
}

export interface VerifyPool {
  verify(job: VerifyJob): Promise<boolean>
  close(): Promise<void>
}

interface Queued {
  readonly job: VerifyJob
  readonly resolve: (valid: boolean) => void
}

export function createVerifyPool(options: {
  readonly workers: number
  readonly maxBatch: number
}): VerifyPool {
  if (options.workers === 0) {
    return {
      verify: async (job) => verifyBytes(job.publicKey, job.bytes, job.signature),
      close: async () => {},
    }
  }
  let queue: Queued[] = []
  let nextId = 0
  const idle: Worker[] = []
  const busy = new Map<number, { worker: Worker; batch: Queued[] }>()

  const dispatch = () => {
    while (queue.length > 0 && idle.length > 0) {
      const worker = idle.pop() as Worker
      const batch = queue.slice(0, options.maxBatch)
      queue = queue.slice(batch.length)
      const id = nextId++
      busy.set(id, { worker, batch })
      worker.postMessage({ id, jobs: batch.map((q) => [q.job.publicKeyHex, q.job.bytes, q.job.signature]) })
    }
  }

  const workers = Array.from({ length: options.workers }, () => {
    const worker = new Worker(new URL('./verify-worker.mjs', import.meta.url))
    worker.on('message', ({ id, results }: { id: number; results: Uint8Array }) => {
      const entry = busy.get(id)
      if (!entry) return
      busy.delete(id)
      for (const [i, q] of entry.batch.entries()) q.resolve(results[i] === 1)
      idle.push(worker)
      dispatch()
    })
    worker.on('error', (error) => {
      // A crashed worker must not lose jobs: verify its batch here rather than hang the callers.
      for (const [id, entry] of busy) {
        if (entry.worker !== worker) continue
        busy.delete(id)
        for (const q of entry.batch) q.resolve(verifyBytes(q.job.publicKey, q.job.bytes, q.job.signature))
      }
      process.emitWarning(`signature worker failed: ${error.message}`)
    })
    worker.unref()
    idle.push(worker)
    return worker
  })

  return {
    verify: (job) =>
      new Promise<boolean>((resolve) => {
        queue.push({ job, resolve })
        dispatch()
      }),
    async close() {
      await Promise.all(workers.map((w) => w.terminate()))
    },
  }
}
