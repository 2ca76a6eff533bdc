import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { crc32c, KAFKAJS_CRC32C_REPLACED } from './kafka-crc32c.ts'

const require = createRequire(import.meta.url)
/** kafkajs's own byte-by-byte implementation, the reference. */
const reference = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (b: Buffer) => number

describe('crc32c', () => {
  it('equals kafkajs own CRC-32C on every length from 0 to 70 and on a large buffer', () => {
    // The standard check value of CRC-32C.
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283)
    let seed = 7
    const bytes = Buffer.alloc(100_003)
    for (let i = 0; i < bytes.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0
      bytes[i] = seed >>> 24
    }
    for (let n = 0; n <= 70; n++)
      expect(crc32c(bytes.subarray(3, 3 + n)), `${n} bytes`).toBe(reference(bytes.subarray(3, 3 + n)))
    expect(crc32c(bytes)).toBe(reference(bytes))
  })

  it('is what kafkajs record batches use once this module loaded first', () => {
    expect(KAFKAJS_CRC32C_REPLACED).toBe(true)
    expect(require('kafkajs/src/protocol/recordBatch/crc32C/index.js')).toBe(crc32c)
  })
})
