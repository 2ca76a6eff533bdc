/**
 * kafkajs's protocol Encoder allocates each buffer it writes into with `Buffer.alloc`, which
 * zero-fills and never comes from Node's pool: one 512-byte buffer per record, header and batch,
 * and again each time one grows. In ingest's batched profile (issue 8) that was ~7 % of the main
 * thread in `FastBuffer` plus its share of garbage collection. An Encoder only ever exposes the
 * bytes it wrote (`buffer` is `buf.slice(0, offset)`, every write advances `offset` over what it
 * wrote), so the unwritten tail need not be zeroed: this module compiles kafkajs's encoder.js with
 * `Buffer.allocUnsafe` (pooled below 4 KiB) into the module cache before kafkajs loads it.
 * It changes nothing when the file is not the one expected (another kafkajs) or kafkajs is
 * already loaded. Like ./kafka-crc32c.ts, imported first by services/ingest/service.ts.
 *
 * It also stops the Encoder copying large writes (`segmented` below): kafkajs encodes a produce
 * request as encoders nested five deep (record, record batch body, batch, batch with offset,
 * partition, topic, request, size prefix), each copying what the one inside wrote, so every
 * byte of a record's value was copied about ten times, plus the doubling as buffers grew. In
 * ingest's batched profile (issue 8, 3.3 kB values, ~180 records per request) that was 10.8 %
 * of the main thread in `_copyActual` and 4.2 % in allocation. A write of at least
 * `SEGMENT_MIN_BYTES` (a value, a nested encoder's bytes) is now kept as a reference, in order,
 * beside the encoder's own buffer, and `buffer` joins them once when something reads it (the
 * batch's CRC, the batch's length-prefixed bytes, the socket write): three copies instead of ten.
 * Nothing kafkajs writes from is changed after the write (values are the caller's records,
 * nested encoders are temporaries whose later writes never touch bytes already written), and
 * `buffer` returns the same bytes as before (kafka-encoder.test.ts: the same operations on a
 * pristine Encoder).
 */
import { readFileSync } from 'node:fs'
import { createRequire, Module } from 'node:module'
import { dirname } from 'node:path'

const KAFKAJS_ENCODER = 'kafkajs/src/protocol/encoder.js'
const EXPECTED = [
  'this.buf = Buffer.alloc(Encoder.nextPowerOfTwo(initialSize))',
  'const newBuffer = Buffer.alloc(newLength)',
] as const

/** The methods `segmented` replaces; another kafkajs (one without them) is left alone. */
const REPLACED = [
  'writeBufferInternal',
  'writeBytes',
  'writeEncoder',
  'writeEncoderArray',
  'writeUVarInt',
  'size',
] as const
/** Smaller writes are copied: cheaper than keeping a reference. */
export const SEGMENT_MIN_BYTES = 1024

/** kafkajs's Encoder as far as this module touches it. */
export interface KafkajsEncoder {
  buf: Buffer
  offset: number
  /** Bytes written before `buf[0, offset)`, in order (none: undefined). */
  segments?: Buffer[] | undefined
  segmentBytes?: number
  readonly buffer: Buffer
  ensureAvailable(length: number): void
  writeInt32(value: number): KafkajsEncoder
  size(): number
}
type EncoderClass = { prototype: KafkajsEncoder }

/**
 * Makes `Encoder` keep writes of `SEGMENT_MIN_BYTES` or more as references (module comment).
 * `buf[0, offset)` stays the encoder's last bytes, so kafkajs's own fixed-size writes
 * (`this.buf.writeInt32BE(v, this.offset)`) work unchanged. Exported for its test.
 */
export function segmented(Encoder: EncoderClass): boolean {
  const proto = Encoder.prototype as unknown as Record<string, unknown>
  if (!REPLACED.every((name) => typeof proto[name] === 'function')) return false
  const buffered = Object.getOwnPropertyDescriptor(Encoder.prototype, 'buffer')
  if (typeof buffered?.get !== 'function') return false
  const writeBytes = proto.writeBytes as (this: KafkajsEncoder, value: unknown) => KafkajsEncoder

  const addSegments = (e: KafkajsEncoder, segments: readonly Buffer[], bytes: number) => {
    if (e.segments === undefined) e.segments = [...segments]
    else for (const s of segments) e.segments.push(s)
    e.segmentBytes = (e.segmentBytes ?? 0) + bytes
  }
  /** Ends `buf`'s part as a segment; writing goes on in the rest of the same memory. */
  const cut = (e: KafkajsEncoder) => {
    if (e.offset === 0) return
    addSegments(e, [e.buf.subarray(0, e.offset)], e.offset)
    e.buf = e.buf.subarray(e.offset)
    e.offset = 0
  }
  const copy = (e: KafkajsEncoder, bytes: Buffer) => {
    e.ensureAvailable(bytes.length)
    bytes.copy(e.buf, e.offset, 0)
    e.offset += bytes.length
  }
  const append = (e: KafkajsEncoder, bytes: Buffer) => {
    if (bytes.length < SEGMENT_MIN_BYTES) return copy(e, bytes)
    cut(e)
    addSegments(e, [bytes], bytes.length)
  }
  const appendEncoder = (e: KafkajsEncoder, inner: KafkajsEncoder) => {
    if (inner.segments !== undefined) {
      cut(e)
      addSegments(e, inner.segments, inner.segmentBytes ?? 0)
    }
    append(e, inner.buf.subarray(0, inner.offset))
  }
  const isEncoder = (v: unknown): v is KafkajsEncoder =>
    v != null && Buffer.isBuffer((v as { buf?: unknown }).buf)

  Object.assign(proto, {
    writeBufferInternal(this: KafkajsEncoder, buffer: Buffer) {
      append(this, buffer)
    },
    writeBytes(this: KafkajsEncoder, value: unknown) {
      // kafkajs reserves room for the whole value first, which a referenced value never uses.
      if (!Buffer.isBuffer(value)) return writeBytes.call(this, value)
      this.writeInt32(value.length)
      append(this, value)
      return this
    },
    writeEncoder(this: KafkajsEncoder, value: unknown) {
      if (!isEncoder(value)) throw new Error('value should be an instance of Encoder')
      appendEncoder(this, value)
      return this
    },
    writeEncoderArray(this: KafkajsEncoder, value: unknown) {
      if (!Array.isArray(value) || !value.every(isEncoder)) {
        throw new Error('all values should be an instance of Encoder[]')
      }
      for (const v of value) appendEncoder(this, v)
      return this
    },
    // kafkajs builds each varint in an array and copies it through Buffer.from.
    writeUVarInt(this: KafkajsEncoder, value: number) {
      this.ensureAvailable(5)
      let rest = value
      while ((rest & 0xffffff80) !== 0) {
        this.buf[this.offset++] = (rest & 0x7f) | 0x80
        rest >>>= 7
      }
      this.buf[this.offset++] = rest & 0x7f
      return this
    },
    size(this: KafkajsEncoder) {
      return (this.segmentBytes ?? 0) + this.offset
    },
  })
  Object.defineProperty(Encoder.prototype, 'buffer', {
    configurable: true,
    get(this: KafkajsEncoder) {
      if (this.segments === undefined) return this.buf.subarray(0, this.offset)
      const whole = Buffer.concat([...this.segments, this.buf.subarray(0, this.offset)], this.size())
      // Joined once: kafkajs reads a request's `buffer` twice.
      this.buf = whole
      this.offset = whole.length
      this.segments = undefined
      this.segmentBytes = 0
      return whole
    },
  })
  return true
}

type CompilableModule = Module & { _compile(code: string, filename: string): void; loaded: boolean }

/** kafkajs's encoder.js compiled from `source` into a module of its own path (not cached). */
export function compileEncoder(path: string, source: string): CompilableModule {
  const mod = new Module(path) as CompilableModule
  mod.filename = path
  mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(
    dirname(path),
  )
  mod._compile(source, path)
  mod.loaded = true
  return mod
}

const patched = (() => {
  const none = { unzeroed: false, segmented: false }
  const require = createRequire(import.meta.url)
  try {
    const path = require.resolve(KAFKAJS_ENCODER)
    if (require.cache[path]) return none
    const source = readFileSync(path, 'utf8')
    if ((source.match(/Buffer\.alloc\(/g) ?? []).length !== EXPECTED.length) return none
    if (!EXPECTED.every((line) => source.includes(line))) return none
    const mod = compileEncoder(path, source.replaceAll('Buffer.alloc(', 'Buffer.allocUnsafe('))
    const isSegmented = segmented(mod.exports as EncoderClass)
    require.cache[path] = mod
    return { unzeroed: true, segmented: isSegmented }
  } catch {
    return none
  }
})()

/** Whether kafkajs's Encoder allocates with `Buffer.allocUnsafe`. */
export const KAFKAJS_ENCODER_UNZEROED = patched.unzeroed
/** Whether kafkajs's Encoder keeps large writes as references instead of copying them. */
export const KAFKAJS_ENCODER_SEGMENTED = patched.segmented
