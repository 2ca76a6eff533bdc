// Signature verification on a worker thread. Plain JavaScript on purpose: a worker started from
// a TypeScript entry point would need the TypeScript loader in every runtime (tsx, vitest, built
// code); this file needs nothing but node:crypto. Messages in: { id, jobs: [[publicKeyHex,
// bytes, signatureBase64], ...] }; out: { id, results: Uint8Array } with 1 = valid, 0 = not.
import { createPublicKey, verify } from 'node:crypto'
import { parentPort } from 'node:worker_threads'

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const keys = new Map()

function keyOf(publicKeyHex) {
  let key = keys.get(publicKeyHex)
  if (!key) {
    key = createPublicKey({
      key: Buffer.concat([SPKI_ED25519_PREFIX, Buffer.from(publicKeyHex, 'hex')]),
      format: 'der',
      type: 'spki',
    })
    keys.set(publicKeyHex, key)
  }
  return key
}

parentPort.on('message', ({ id, jobs }) => {
  const results = new Uint8Array(jobs.length)
  for (let i = 0; i < jobs.length; i++) {
    const [publicKeyHex, bytes, signature] = jobs[i]
    try {
      const sig = Buffer.from(signature, 'base64')
      results[i] = sig.byteLength === 64 && verify(null, bytes, keyOf(publicKeyHex), sig) ? 1 : 0
    } catch {
      results[i] = 0
    }
  }
  parentPort.postMessage({ id, results }, [results.buffer])
})
