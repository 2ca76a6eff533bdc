/**
 * A faster CRC-32C for kafkajs's record batches, installed in its module cache before kafkajs
 * loads (import this module before anything that imports kafkajs). kafkajs 2.2.4 checksums every
 * record batch byte by byte in JavaScript: 7.6 % of ingest's main thread under the batched load
 * (bench/README.md). This one reads 8 bytes per step through 8 tables (slicing-by-8) and gives
 * the same checksum (kafka-crc32c.test.ts compares them). If kafkajs was loaded first, or its
 * layout differs, nothing is replaced and kafkajs keeps its own.
 */
import { createRequire } from 'node:module'

const POLY_REVERSED = 0x82f63b78
const TABLES = (() => {
  const t = new Int32Array(8 * 256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY_REVERSED : c >>> 1
    t[n] = c
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n] as number
    for (let k = 1; k < 8; k++) {
      c = (t[c & 0xff] as number) ^ (c >>> 8)
      t[k * 256 + n] = c
    }
  }
  return t
})()

/** CRC-32C (Castagnoli) of `bytes`, unsigned. */
export function crc32c(bytes: Uint8Array): number {
  const t = TABLES
  let crc = -1
  let i = 0
  const end8 = bytes.length - (bytes.length % 8)
  for (; i < end8; i += 8) {
    const lo =
      crc ^
      ((bytes[i] as number) |
        ((bytes[i + 1] as number) << 8) |
        ((bytes[i + 2] as number) << 16) |
        ((bytes[i + 3] as number) << 24))
    crc =
      (t[7 * 256 + (lo & 0xff)] as number) ^
      (t[6 * 256 + ((lo >>> 8) & 0xff)] as number) ^
      (t[5 * 256 + ((lo >>> 16) & 0xff)] as number) ^
      (t[4 * 256 + (lo >>> 24)] as number) ^
      (t[3 * 256 + (bytes[i + 4] as number)] as number) ^
      (t[2 * 256 + (bytes[i + 5] as number)] as number) ^
      (t[256 + (bytes[i + 6] as number)] as number) ^
      (t[bytes[i + 7] as number] as number)
  }
  for (; i < bytes.length; i++) crc = (t[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8)
  return (crc ^ -1) >>> 0
}

const KAFKAJS_CRC32C = 'kafkajs/src/protocol/recordBatch/crc32C/index.js'
const KAFKAJS_RECORD_BATCH = 'kafkajs/src/protocol/recordBatch/v0/index.js'

/** Whether kafkajs's record batches use `crc32c` (false: kafkajs was loaded before this module). */
export const KAFKAJS_CRC32C_REPLACED = (() => {
  const require = createRequire(import.meta.url)
  try {
    const batchPath = require.resolve(KAFKAJS_RECORD_BATCH)
    if (require.cache[batchPath]) return false
    const crcPath = require.resolve(KAFKAJS_CRC32C)
    require(crcPath)
    const cached = require.cache[crcPath]
    if (!cached) return false
    cached.exports = crc32c
    return true
  } catch {
    return false
  }
})()
