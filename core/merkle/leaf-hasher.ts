/**
 * Standard leaf hashes of a large tree on more than one core. The main thread must encode the
 * leaves (they are its JavaScript objects), and that encoding costs about as much CPU as hashing
 * it, so the work is pipelined: the main thread encodes chunks into a ring of shared buffers,
 * worker threads hash them as they appear, and once everything is encoded the main thread hashes
 * the chunks nobody has claimed yet. Coordination is by Atomics on one shared control array,
 * so the tree build stays a synchronous function (the main thread never needs its event loop).
 *
 * Each worker has a WebAssembly instance of its own (the same compiled module, its own memory);
 * hashes come back through one shared array of 32 bytes per leaf. A failed or stuck worker
 * makes `finish` report failure and the caller hashes everything itself: the result never
 * depends on the workers.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { compiledKeccakModule, type KeccakInstance } from './keccak.ts'

/** Control words: [next chunk to claim, chunks produced, chunks done, abort, failure]. */
const NEXT = 0
const PRODUCED = 1
const DONE = 2
const ABORT = 3
const FAILED = 4
const HEADER = 8

/** How long the main thread waits for one chunk before it gives up on the workers. */
const STUCK_MS = 30_000

// Plain JavaScript evaluated in each worker: no loader, no imports beyond worker_threads.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { NEXT, PRODUCED, DONE, ABORT, FAILED, HEADER } = workerData.words
const exports_ = new WebAssembly.Instance(workerData.module, {}).exports
const base = exports_.__heap_base.value
parentPort.on('message', (job) => {
  const ctl = new Int32Array(job.control)
  const ring = new Uint8Array(job.ring)
  const results = new Uint8Array(job.results)
  try {
    const need = base + job.slotBytes + 32 * job.chunkLeaves
    const have = exports_.memory.buffer.byteLength
    if (need > have) exports_.memory.grow(Math.ceil((need - have) / 65536))
    const mem = new Uint8Array(exports_.memory.buffer)
    for (;;) {
      const c = Atomics.add(ctl, NEXT, 1)
      if (c >= job.chunks) break
      for (;;) {
        if (Atomics.load(ctl, ABORT)) return
        const produced = Atomics.load(ctl, PRODUCED)
        if (produced > c) break
        Atomics.wait(ctl, PRODUCED, produced, 1000)
      }
      const slot = c % job.slots
      const count = ctl[HEADER + 2 * job.chunks + c]
      const bytes = new Uint32Array(job.ring, slot * job.slotBytes, count + 1)[count]
      mem.set(ring.subarray(slot * job.slotBytes, slot * job.slotBytes + job.offsetBytes + bytes), base)
      const out = base + job.slotBytes
      exports_.leaf_hashes(base + job.offsetBytes, base, count, out)
      results.set(mem.subarray(out, out + 32 * count), 32 * c * job.chunkLeaves)
      Atomics.store(ctl, HEADER + c, 1)
      Atomics.notify(ctl, HEADER + c)
      Atomics.add(ctl, DONE, 1)
    }
  } catch (error) {
    Atomics.store(ctl, FAILED, 1)
    Atomics.store(ctl, ABORT, 1)
    Atomics.notify(ctl, DONE)
  }
})
`

let pool: Worker[] | undefined
let zeros: Uint8Array | undefined

/** Worker threads beside the main thread: one per further core (none on a single core). */
function workers(): Worker[] {
  if (pool) return pool
  const count = Math.max(0, Math.min(3, availableParallelism() - 1))
  pool = []
  for (let i = 0; i < count; i++) {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { module: compiledKeccakModule(), words: { NEXT, PRODUCED, DONE, ABORT, FAILED, HEADER } },
    })
    worker.unref()
    // A dead worker stops taking chunks; the main thread notices through the control words.
    worker.on('error', () => {
      pool = pool?.filter((w) => w !== worker)
    })
    worker.on('exit', () => {
      pool = pool?.filter((w) => w !== worker)
    })
    pool.push(worker)
  }
  return pool
}

const offsetBytesOf = (chunkLeaves: number) => 8 * Math.ceil((4 * (chunkLeaves + 1)) / 8)
const slotBytesOf = (chunkLeaves: number, chunkBytes: number) =>
  8 * Math.ceil((offsetBytesOf(chunkLeaves) + chunkBytes) / 8)

/** Bytes of the main thread's scratch space for a job of these chunks. */
export const scratchBytes = (chunkLeaves: number, chunkBytes: number) =>
  slotBytesOf(chunkLeaves, chunkBytes) + 32 * chunkLeaves

/** Whether a tree of this many chunks is worth the workers (and there are any). */
export function parallelHashingAvailable(chunks: number): boolean {
  return chunks >= 4 && workers().length > 0
}

/**
 * One tree's leaf hashing. Per chunk: `slot(c)` gives the shared buffer to encode into (offsets
 * first, then the encodings; see `offsetBytes`), `submit(c, count)` publishes it. `finish`
 * hashes what is left on this thread, waits for the workers and copies every hash to
 * `hashesPtr` in the main instance; it returns false if the workers failed (nothing is copied).
 */
export class ParallelLeafHasher {
  readonly offsetBytes: number
  private readonly slotBytes: number
  private readonly slots: number
  private readonly control: SharedArrayBuffer
  private readonly ctl: Int32Array
  private readonly ring: SharedArrayBuffer
  private readonly ringBytes: Uint8Array
  private readonly results: SharedArrayBuffer

  /**
   * `scratchPtr`: where in `k`'s memory this thread may use `scratchBytes(…)` bytes to hash the
   * chunks it takes itself.
   */
  constructor(
    private readonly k: KeccakInstance,
    private readonly scratchPtr: number,
    private readonly chunks: number,
    private readonly chunkLeaves: number,
    chunkBytes: number,
    leafCount: number,
  ) {
    this.offsetBytes = offsetBytesOf(chunkLeaves)
    this.slotBytes = slotBytesOf(chunkLeaves, chunkBytes)
    this.slots = Math.min(chunks, 8)
    this.control = new SharedArrayBuffer(4 * (HEADER + 3 * chunks))
    this.ctl = new Int32Array(this.control)
    this.ring = new SharedArrayBuffer(this.slots * this.slotBytes)
    this.ringBytes = new Uint8Array(this.ring)
    this.results = new SharedArrayBuffer(32 * leafCount)
    const job = {
      control: this.control,
      ring: this.ring,
      results: this.results,
      chunks,
      chunkLeaves,
      slots: this.slots,
      slotBytes: this.slotBytes,
      offsetBytes: this.offsetBytes,
    }
    for (const worker of workers()) worker.postMessage(job)
  }

  /** The zeroed slot for chunk c (waits, or hashes on this thread, until it is free). */
  slot(c: number): Buffer {
    if (c >= this.slots) this.awaitChunk(c - this.slots)
    const at = (c % this.slots) * this.slotBytes
    const view = Buffer.from(this.ring, at, this.slotBytes)
    // fill() on shared memory takes a slow path here (~30× slower); a copy does not
    zeros ??= new Uint8Array(this.slotBytes)
    if (zeros.length < this.slotBytes) zeros = new Uint8Array(this.slotBytes)
    view.set(zeros.subarray(0, this.slotBytes))
    return view
  }

  submit(c: number, count: number): void {
    this.ctl[HEADER + 2 * this.chunks + c] = count
    Atomics.store(this.ctl, PRODUCED, c + 1)
    Atomics.notify(this.ctl, PRODUCED)
  }

  /** Ends the workers' part of this job (also after an error while encoding). */
  abort(): void {
    Atomics.store(this.ctl, ABORT, 1)
    Atomics.notify(this.ctl, PRODUCED)
  }

  /** Throws WorkersFailed when the workers failed or stalled (the caller then hashes alone). */
  finish(hashesPtr: number): void {
    try {
      for (let c = 0; c < this.chunks; c++) this.awaitChunk(c)
    } finally {
      this.abort()
    }
    new Uint8Array(this.k.reserve(0).buffer).set(new Uint8Array(this.results), hashesPtr)
  }

  /** Returns once chunk c is hashed: claims unclaimed chunks for this thread meanwhile. */
  private awaitChunk(c: number): void {
    let waitedMs = 0
    while (Atomics.load(this.ctl, HEADER + c) === 0) {
      if (Atomics.load(this.ctl, FAILED)) throw new WorkersFailed()
      const next = Atomics.load(this.ctl, NEXT)
      if (
        next < Atomics.load(this.ctl, PRODUCED) &&
        Atomics.compareExchange(this.ctl, NEXT, next, next + 1) === next
      ) {
        this.hashHere(next)
        continue
      }
      if (Atomics.wait(this.ctl, HEADER + c, 0, 100) === 'timed-out') waitedMs += 100
      if (waitedMs > STUCK_MS) throw new WorkersFailed()
    }
  }

  private hashHere(c: number): void {
    const count = this.ctl[HEADER + 2 * this.chunks + c]!
    const at = (c % this.slots) * this.slotBytes
    const bytes = new Uint32Array(this.ring, at, count + 1)[count]!
    const mem = this.k.reserve(0)
    const base = this.scratchPtr
    mem.set(this.ringBytes.subarray(at, at + this.offsetBytes + bytes), base)
    this.k.leafHashes(base + this.offsetBytes, base, count, base + this.slotBytes)
    new Uint8Array(this.results).set(
      mem.subarray(base + this.slotBytes, base + this.slotBytes + 32 * count),
      32 * c * this.chunkLeaves,
    )
    Atomics.store(this.ctl, HEADER + c, 1)
    Atomics.add(this.ctl, DONE, 1)
  }
}

/** The workers failed or stalled: the caller hashes on its own thread instead. */
export class WorkersFailed extends Error {
  override readonly name = 'WorkersFailed'
}
