import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  compileEncoder,
  KAFKAJS_ENCODER_SEGMENTED,
  KAFKAJS_ENCODER_UNZEROED,
  type KafkajsEncoder,
  SEGMENT_MIN_BYTES,
} from './kafka-encoder.ts'

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

type EncoderCtor = new () => KafkajsEncoder
const call = (e: KafkajsEncoder, method: string, arg: unknown) =>
  (e as unknown as Record<string, (arg: unknown) => unknown>)[method]?.(arg)

/** One write, applied the same way to both encoders (`nested`: an encoder of the same class). */
type Op =
  | { kind: 'int'; method: 'writeInt8' | 'writeInt16' | 'writeInt32' | 'writeUInt32'; value: number }
  | { kind: 'varint'; method: 'writeVarInt' | 'writeUVarInt' | 'writeVarLong'; value: number }
  | { kind: 'string'; method: 'writeString' | 'writeVarIntString'; value: string }
  | {
      kind: 'bytes'
      method: 'writeBytes' | 'writeVarIntBytes' | 'writeUVarIntBytes' | 'writeBuffer'
      size: number
    }
  | { kind: 'nested'; ops: Op[]; array: boolean; read: boolean }
  | { kind: 'read' }

const sizes = fc.oneof(
  fc.integer({ min: 0, max: 64 }),
  fc.integer({ min: SEGMENT_MIN_BYTES - 2, max: SEGMENT_MIN_BYTES + 2 }),
  fc.integer({ min: 2000, max: 9000 }),
)
const leaf: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('int' as const),
    method: fc.constantFrom('writeInt8' as const, 'writeInt16' as const, 'writeInt32' as const),
    value: fc.integer({ min: -100, max: 100 }),
  }),
  fc.record({
    kind: fc.constant('int' as const),
    method: fc.constant('writeUInt32' as const),
    value: fc.integer({ min: 0, max: 0xffffffff }),
  }),
  fc.record({
    kind: fc.constant('varint' as const),
    method: fc.constantFrom('writeVarInt' as const, 'writeUVarInt' as const, 'writeVarLong' as const),
    value: fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -300, max: 300 })),
  }),
  fc.record({
    kind: fc.constant('string' as const),
    method: fc.constantFrom('writeString' as const, 'writeVarIntString' as const),
    value: fc.string({ maxLength: 40 }),
  }),
  fc.record({
    kind: fc.constant('bytes' as const),
    method: fc.constantFrom(
      'writeBytes' as const,
      'writeVarIntBytes' as const,
      'writeUVarIntBytes' as const,
      'writeBuffer' as const,
    ),
    size: sizes,
  }),
  fc.constant({ kind: 'read' as const }),
)
const ops: fc.Arbitrary<Op[]> = fc.letrec<{ ops: Op[]; op: Op }>((tie) => ({
  op: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.record({
      kind: fc.constant('nested' as const),
      ops: tie('ops') as fc.Arbitrary<Op[]>,
      array: fc.boolean(),
      read: fc.boolean(),
    }),
  ),
  ops: fc.array(tie('op'), { maxLength: 12 }),
})).ops

function apply(Encoder: EncoderCtor, list: readonly Op[], seed: number): KafkajsEncoder {
  const e = new Encoder()
  for (const [i, op] of list.entries()) {
    if (op.kind === 'read') void e.buffer
    else if (op.kind === 'nested') {
      const inner = apply(Encoder, op.ops, seed + i)
      if (op.read) void inner.buffer
      if (op.array) call(e, 'writeEncoderArray', [inner, apply(Encoder, op.ops.slice(1), seed + i + 1)])
      else call(e, 'writeEncoder', inner)
    } else if (op.kind === 'bytes') call(e, op.method, Buffer.alloc(op.size, (seed + i) & 0xff))
    else call(e, op.method, op.value)
  }
  return e
}

describe('kafkajs encoder keeping large writes as references', () => {
  const require = createRequire(import.meta.url)
  const path = require.resolve('kafkajs/src/protocol/encoder.js')
  const Patched = require(path) as EncoderCtor
  const Pristine = compileEncoder(`${path}.pristine`, readFileSync(path, 'utf8')).exports as EncoderCtor

  it('is what kafkajs loads once this module loaded first', () => {
    expect(KAFKAJS_ENCODER_SEGMENTED).toBe(true)
    expect(Patched).not.toBe(Pristine)
  })

  it('gives the bytes and size of a pristine kafkajs Encoder for any sequence of writes', () => {
    fc.assert(
      fc.property(ops, fc.integer({ min: 0, max: 255 }), (list, seed) => {
        const expected = apply(Pristine, list, seed)
        const actual = apply(Patched, list, seed)
        expect(actual.size()).toBe(expected.size())
        expect(Buffer.compare(actual.buffer, expected.buffer)).toBe(0)
        // Read twice (kafkajs does): the same bytes, and writes after a read land after them.
        expect(Buffer.compare(actual.buffer, expected.buffer)).toBe(0)
        actual.writeInt32(7)
        expected.writeInt32(7)
        expect(Buffer.compare(actual.buffer, expected.buffer)).toBe(0)
      }),
      { numRuns: 300 },
    )
  })

  it('refuses what kafkajs refuses', () => {
    const e = new Patched()
    expect(() => call(e, 'writeEncoder', Buffer.alloc(4))).toThrow('value should be an instance of Encoder')
    expect(() => call(e, 'writeEncoderArray', [new Patched(), {}])).toThrow(
      'all values should be an instance of Encoder[]',
    )
  })
})
