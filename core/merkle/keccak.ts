/**
 * Keccak-256 and the OpenZeppelin tree's hot loops in WebAssembly (./wasm/keccak.c), loaded
 * synchronously so that tree building stays a plain function. Measured here: ~3.2M pair hashes
 * per second on one core, against ~1.1M through hash-wasm's per-call API and ~0.1M in JS.
 *
 * Memory: one shared instance serves small jobs; jobs that need more than SHARED_LIMIT_BYTES
 * share a second, large instance that is dropped after LARGE_IDLE_MS without use, because
 * WebAssembly memory never shrinks and a long-running service should not keep a million-leaf
 * tree's worth of it, while back-to-back large trees (a signer's pools, a benchmark) should not
 * each pay for fresh memory pages.
 */
import { KECCAK_WASM_BASE64 } from './wasm/keccak-wasm.ts'

// The few WebAssembly types used here (the project's lib settings carry no DOM typings).
interface WasmMemory {
  readonly buffer: ArrayBuffer
  grow(pages: number): number
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object, imports: object) => { readonly exports: unknown }
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly

interface KeccakExports {
  readonly memory: WasmMemory
  readonly __heap_base: { readonly value: number }
  keccak(inPtr: number, length: number, outPtr: number): void
  leaf_hashes(dataPtr: number, offsetsPtr: number, count: number, outPtr: number): void
  build_tree(nodesPtr: number, leafCount: number): void
  node_hash(aPtr: number, bPtr: number, outPtr: number): void
  place_leaves(hashesPtr: number, orderPtr: number, leafCount: number, nodesPtr: number): void
}

const PAGE_BYTES = 65_536
const SHARED_LIMIT_BYTES = 64 * 1024 * 1024
const LARGE_IDLE_MS = 15_000

let compiled: object | undefined
let shared: KeccakInstance | undefined
let large: KeccakInstance | undefined
let largeTimer: ReturnType<typeof setTimeout> | undefined

/** The compiled module (worker threads instantiate it with memories of their own). */
export function compiledKeccakModule(): object {
  compiled ??= new wasm.Module(Buffer.from(KECCAK_WASM_BASE64, 'base64'))
  return compiled
}

/** One instance with its memory laid out as [heapBase, heapBase + capacity). */
export class KeccakInstance {
  readonly heapBase: number
  private readonly exports: KeccakExports
  private bytes: Uint8Array

  constructor() {
    this.exports = new wasm.Instance(compiledKeccakModule(), {}).exports as KeccakExports
    this.heapBase = this.exports.__heap_base.value
    this.bytes = new Uint8Array(this.exports.memory.buffer)
  }

  /** Makes room for `length` bytes above the heap base and returns a view of all memory. */
  reserve(length: number): Uint8Array {
    const needed = this.heapBase + length
    const have = this.exports.memory.buffer.byteLength
    if (needed > have) this.exports.memory.grow(Math.ceil((needed - have) / PAGE_BYTES))
    if (this.bytes.buffer !== this.exports.memory.buffer)
      this.bytes = new Uint8Array(this.exports.memory.buffer)
    return this.bytes
  }

  keccak(inPtr: number, length: number, outPtr: number): void {
    this.exports.keccak(inPtr, length, outPtr)
  }
  leafHashes(dataPtr: number, offsetsPtr: number, count: number, outPtr: number): void {
    this.exports.leaf_hashes(dataPtr, offsetsPtr, count, outPtr)
  }
  buildTree(nodesPtr: number, leafCount: number): void {
    this.exports.build_tree(nodesPtr, leafCount)
  }
  nodeHash(aPtr: number, bPtr: number, outPtr: number): void {
    this.exports.node_hash(aPtr, bPtr, outPtr)
  }
  placeLeaves(hashesPtr: number, orderPtr: number, leafCount: number, nodesPtr: number): void {
    this.exports.place_leaves(hashesPtr, orderPtr, leafCount, nodesPtr)
  }
}

/** The instance for a job of `bytes` bytes of working memory (see the module comment). */
export function keccakInstanceFor(bytes: number): KeccakInstance {
  if (bytes > SHARED_LIMIT_BYTES) {
    large ??= new KeccakInstance()
    if (largeTimer) clearTimeout(largeTimer)
    largeTimer = setTimeout(() => {
      large = undefined
    }, LARGE_IDLE_MS)
    largeTimer.unref?.()
    return large
  }
  shared ??= new KeccakInstance()
  return shared
}

/** keccak256 of `data`, as 32 bytes. */
export function keccak256Bytes(data: Uint8Array): Uint8Array {
  const k = keccakInstanceFor(data.length + 32)
  const mem = k.reserve(data.length + 32)
  const inPtr = k.heapBase + 32
  mem.set(data, inPtr)
  k.keccak(inPtr, data.length, k.heapBase)
  return mem.slice(k.heapBase, k.heapBase + 32)
}

/** OpenZeppelin's commutative node hash: keccak256 of the two nodes in ascending byte order. */
export function hashPairBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const k = keccakInstanceFor(96)
  const mem = k.reserve(96)
  const base = k.heapBase
  mem.set(a, base + 32)
  mem.set(b, base + 64)
  k.nodeHash(base + 32, base + 64, base)
  return mem.slice(base, base + 32)
}
