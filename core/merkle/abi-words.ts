/**
 * A direct ABI encoder for the fixed leaf layouts: each field is written straight into its
 * 32-byte word of a zeroed buffer. viem's generic `encodeAbiParameters` parses the types and
 * builds hex strings per call, ~25× slower; these leaves are encoded a million at a time.
 * Callers zero the target range first; every writer validates its value's ABI range.
 */
import { MerkleLeafInvalidError } from './errors.ts'

/** Value of a hex digit by char code, -1 for anything else. */
const HEX_VALUE = (() => {
  const table = new Int8Array(65_536).fill(-1)
  for (let d = 0; d < 16; d++) {
    table['0123456789abcdef'.charCodeAt(d)] = d
    table['0123456789ABCDEF'.charCodeAt(d)] = d
  }
  return table
})()

/**
 * Writes the `byteLength` bytes of a 0x-prefixed hex string at `offset`, digit by digit: no
 * substring and no native call per value (a million digests are written per large tree).
 */
export function writeHexBytes(
  target: Uint8Array,
  offset: number,
  hex: string,
  byteLength: number,
  field: string,
): void {
  if (
    typeof hex !== 'string' ||
    hex.length !== 2 + 2 * byteLength ||
    hex.charCodeAt(0) !== 48 ||
    (hex.charCodeAt(1) | 32) !== 120
  )
    throw new MerkleLeafInvalidError(field, `must be 0x and ${2 * byteLength} hex digits, got ${String(hex)}`)
  let bad = 0
  for (let i = 0; i < byteLength; i++) {
    const hi = HEX_VALUE[hex.charCodeAt(2 + 2 * i)]!
    const lo = HEX_VALUE[hex.charCodeAt(3 + 2 * i)]!
    bad |= hi | lo
    target[offset + i] = (hi << 4) | (lo & 15)
  }
  if (bad < 0)
    throw new MerkleLeafInvalidError(field, `must be 0x and ${2 * byteLength} hex digits, got ${String(hex)}`)
}

const TWO_POW_32 = 2 ** 32
const MAX_UINT = { 32: (1n << 32n) - 1n, 64: (1n << 64n) - 1n, 256: (1n << 256n) - 1n } as const
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/** Writes an unsigned integer of `bits` bits big-endian into the word at `offset`. */
export function writeUint(
  target: Uint8Array,
  offset: number,
  value: number | bigint,
  bits: 32 | 64 | 256,
  field: string,
): void {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new MerkleLeafInvalidError(field, `must be a non-negative safe integer, got ${value}`)
    if (bits === 32 && value >= TWO_POW_32)
      throw new MerkleLeafInvalidError(field, `does not fit uint32: ${value}`)
    const hi = Math.floor(value / TWO_POW_32)
    const lo = value - hi * TWO_POW_32
    writeUint32(target, offset + 24, hi)
    writeUint32(target, offset + 28, lo)
    return
  }
  if (typeof value !== 'bigint')
    throw new MerkleLeafInvalidError(field, `must be an integer, got ${typeof value}`)
  if (value < 0n || value > MAX_UINT[bits])
    throw new MerkleLeafInvalidError(field, `does not fit uint${bits}: ${value}`)
  if (value <= MAX_SAFE) {
    // the common case: a number write, no BigInt arithmetic
    const small = Number(value)
    const hi = Math.floor(small / TWO_POW_32)
    writeUint32(target, offset + 24, hi)
    writeUint32(target, offset + 28, small - hi * TWO_POW_32)
    return
  }
  let rest = value
  for (let end = offset + 32; rest > 0n; end -= 4) {
    writeUint32(target, end - 4, Number(rest & 0xffffffffn))
    rest >>= 32n
  }
}

function writeUint32(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value >>> 24
  target[offset + 1] = (value >>> 16) & 255
  target[offset + 2] = (value >>> 8) & 255
  target[offset + 3] = value & 255
}

/** UTF-8 length of a string (ASCII fast path; device and tariff ids are ASCII). */
export function utf8Length(text: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 127) return Buffer.byteLength(text, 'utf8')
  }
  return text.length
}

/** Bytes of the tail of an ABI `string`: its length word and its bytes padded to a word. */
export function stringTailLength(byteLength: number): number {
  return 32 + Math.ceil(byteLength / 32) * 32
}

/** Writes the tail of an ABI `string` (length word, then the bytes) at `offset`. */
export function writeStringTail(target: Buffer, offset: number, text: string, byteLength: number): void {
  writeUint32(target, offset + 28, byteLength)
  if (byteLength === text.length) {
    for (let i = 0; i < byteLength; i++) target[offset + 32 + i] = text.charCodeAt(i)
  } else {
    target.set(Buffer.from(text, 'utf8'), offset + 32)
  }
}

/** Writes an offset word (the head entry of a dynamic field). */
export function writeOffsetWord(target: Buffer, offset: number, value: number): void {
  writeUint32(target, offset + 28, value)
}

const HEX_CHARS = '0123456789abcdef'
const BYTE_HEX: string[] = Array.from({ length: 256 }, (_, b) => HEX_CHARS[b >> 4]! + HEX_CHARS[b & 15]!)

/** 0x-prefixed lowercase hex of `length` bytes at `offset`. */
export function bytesToHex(source: Uint8Array, offset = 0, length = source.length - offset): `0x${string}` {
  let out = '0x'
  for (let i = offset; i < offset + length; i++) out += BYTE_HEX[source[i]!]
  return out as `0x${string}`
}
