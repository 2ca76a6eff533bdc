import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { KAFKAJS_ENCODER_UNZEROED } from './kafka-encoder.ts'

const require = createRequire(import.meta.url)

interface Encoded {
  readonly buffer: Buffer
}
type RecordBatchFn = (batch: {
  compression: number
  firstTimestamp: number
  maxTimestamp: number
  records: unknown[]
}) => Promise<Encoded>
type RecordFn = (record: {
  offsetDelta: number
  timestampDelta: number
  key: Buffer
  value: Buffer
  headers: Record<string, string>
}) => Encoded

describe('kafkajs encoder without zero-filling', () => {
  it('is what kafkajs loads once this module loaded first', () => {
    expect(KAFKAJS_ENCODER_UNZEROED).toBe(true)
    expect(String(require('kafkajs/src/protocol/encoder.js'))).toContain('Buffer.allocUnsafe(')
  })

  it('encodes a record batch to the same bytes whatever the reused memory held', async () => {
    const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as {
      RecordBatch: RecordBatchFn
    }
    const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as RecordFn
    const encode = async (fill: number) => {
      // Dirty Node's buffer pool and fresh allocations with `fill` first.
      for (let i = 0; i < 64; i++) Buffer.allocUnsafe(1 + ((i * 97) % 4000)).fill(fill)
      const records = Array.from({ length: 300 }, (_, i) =>
        Record({
          offsetDelta: i,
          timestampDelta: i * 3,
          key: Buffer.from(`device-${i % 17}`),
          value: Buffer.from(JSON.stringify({ i, readings: Array.from({ length: i % 40 }, (_, j) => j) })),
          headers: { 'gridroot-ingest': 'ingest-test' },
        }),
      )
      return Buffer.from(
        (
          await RecordBatch({
            compression: 0,
            firstTimestamp: 1_700_000_000_000,
            maxTimestamp: 1_700_000_001_000,
            records,
          })
        ).buffer,
      )
    }
    const a = await encode(0x00)
    const b = await encode(0xff)
    const c = await encode(0xa5)
    expect(b.equals(a)).toBe(true)
    expect(c.equals(a)).toBe(true)
  })
})
