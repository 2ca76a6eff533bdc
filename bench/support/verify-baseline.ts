/**
 * The per-message baseline: how many ed25519 signatures one implementation verifies per second
 * on this machine with a given number of worker threads, over the very messages the benchmark
 * publishes (same keys, same signed bytes). Nothing but the verify call runs in the loop: keys
 * are made and signatures decoded beforehand, so this is the ceiling of a verifier with that
 * many threads. `node:crypto` (OpenSSL) is the baseline the ingest issue names; `libsodium`
 * (sodium-native) is what ingest verifies with when it loads (core/identity/keys.ts).
 */
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import { decodeAcceptedRecord } from '../../core/telemetry/decode.ts'
import { signedBytesOf } from '../../core/telemetry/signed.ts'
import type { Publish } from '../../simulators/scenario.ts'

export type VerifyImplementation = 'node:crypto' | 'libsodium'

const SPKI_ED25519_PREFIX = '302a300506032b6570032100'

// Plain JavaScript evaluated in the worker: a worker cannot load TypeScript without a loader.
const WORKER_SOURCE = `
const { createPublicKey, verify } = require('node:crypto')
const { parentPort, workerData } = require('node:worker_threads')
const sodium = workerData.sodiumPath ? require(workerData.sodiumPath) : undefined
const keys = new Map()
const jobs = workerData.jobs.map(([publicKeyHex, bytes, signature]) => {
  let key = keys.get(publicKeyHex)
  if (!key) {
    key = sodium
      ? Buffer.from(publicKeyHex, 'hex')
      : createPublicKey({ key: Buffer.from('${SPKI_ED25519_PREFIX}' + publicKeyHex, 'hex'), format: 'der', type: 'spki' })
    keys.set(publicKeyHex, key)
  }
  return [Buffer.from(bytes), key, Buffer.from(signature)]
})
const verifyOne = sodium
  ? (bytes, key, signature) => sodium.crypto_sign_verify_detached(signature, bytes, key)
  : (bytes, key, signature) => verify(null, bytes, key, signature)
const run = (ms) => {
  let count = 0
  let invalid = 0
  const start = performance.now()
  let now = start
  while (now - start < ms) {
    for (let i = 0; i < 64; i++) {
      const [bytes, key, signature] = jobs[count % jobs.length]
      if (!verifyOne(bytes, key, signature)) invalid += 1
      count += 1
    }
    now = performance.now()
  }
  return { count, invalid, seconds: (now - start) / 1000 }
}
parentPort.on('message', ({ warmUpMs, measureMs }) => {
  run(warmUpMs)
  parentPort.postMessage(run(measureMs))
})
`

export interface VerifyRate {
  readonly verificationsPerSecond: number
  readonly perThread: readonly number[]
}

/** [raw public key hex, signed bytes, raw signature] of each message. */
export type VerifyJobs = readonly (readonly [string, Uint8Array, Uint8Array])[]

export function verifyJobsOf(
  publishes: readonly Publish[],
  publicKeyHexOf: (deviceId: string) => string,
): VerifyJobs {
  return publishes.map((p) => {
    const message = decodeAcceptedRecord(p.payload)
    return [
      publicKeyHexOf(message.deviceId),
      signedBytesOf(message),
      Buffer.from(message.sig, 'base64'),
    ] as const
  })
}

/** Runs `threads` workers of one implementation at once, each warming up then verifying for `measureMs`. */
export async function measureVerifyRate(
  jobs: VerifyJobs,
  options: { implementation: VerifyImplementation; threads: number; warmUpMs: number; measureMs: number },
): Promise<VerifyRate> {
  const sodiumPath =
    options.implementation === 'libsodium'
      ? createRequire(import.meta.url).resolve('sodium-native')
      : undefined
  const workers = Array.from(
    { length: options.threads },
    () => new Worker(WORKER_SOURCE, { eval: true, workerData: { jobs, sodiumPath } }),
  )
  try {
    const results = await Promise.all(
      workers.map(
        (worker) =>
          new Promise<{ count: number; invalid: number; seconds: number }>((resolve, reject) => {
            worker.once('message', resolve)
            worker.once('error', reject)
            worker.postMessage({ warmUpMs: options.warmUpMs, measureMs: options.measureMs })
          }),
      ),
    )
    const invalid = results.reduce((sum, r) => sum + r.invalid, 0)
    if (invalid > 0) throw new Error(`${invalid} signatures of the benchmark load did not verify`)
    const perThread = results.map((r) => r.count / r.seconds)
    return { verificationsPerSecond: perThread.reduce((a, b) => a + b, 0), perThread }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()))
  }
}
