/**
 * `readingsDigest`: the hash chain over the readings a device leaf pays for, so a leaf commits
 * to exactly which signed readings earned its revenue and an outsider can recompute it from the
 * readings archive (the original signed Kafka message bytes) alone.
 *
 *   d_0 = 0x00…00
 *   d_i = keccak256(abi.encode(bytes32 d_{i-1}, uint64 boot, uint64 seq,
 *                              bytes32 keccak256(signed message bytes), uint16 indexInMessage))
 *
 * over the device's accepted readings of the epoch, including late readings booked into this
 * epoch as adjustments, in ascending (boot, seq) order. `boot` is the device's seq generation
 * (0 for v1 telemetry, which has none). The message bytes are the Kafka record's value exactly
 * as ingest produced it (the signed MQTT payload); `indexInMessage` is the reading's position
 * in that message's `readings` array. Quarantined readings are not paid and not in the chain
 * (nor in `readings`); duplicates and replays of an accepted (boot, seq) are not either. The
 * leaf's `readings` field is the chain's length. An epoch with no readings has d = 0x00…00.
 */
import type { Hex } from 'viem'
import { bytesToHex, writeHexBytes, writeUint } from './abi-words.ts'
import { MerkleLeafInvalidError } from './errors.ts'
import { keccak256Bytes } from './keccak.ts'

export const EMPTY_READINGS_DIGEST: Hex = `0x${'00'.repeat(32)}`

/** One paid reading, as the digest sees it. */
export interface DigestReading {
  readonly boot: number
  readonly seq: number
  /** keccak256 of the signed message bytes that carry the reading (`messageHash`). */
  readonly messageHash: Hex
  readonly indexInMessage: number
}

/** keccak256 of a signed message's bytes, as the digest takes it. */
export function messageHash(signedMessageBytes: Uint8Array): Hex {
  return bytesToHex(keccak256Bytes(signedMessageBytes))
}

const STEP_BYTES = 5 * 32

/** One link of the chain: d_i from d_{i-1} and the reading. */
export function readingsDigestStep(previous: Hex, reading: DigestReading): Hex {
  if (
    !Number.isInteger(reading.indexInMessage) ||
    reading.indexInMessage < 0 ||
    reading.indexInMessage > 0xffff
  )
    throw new MerkleLeafInvalidError('indexInMessage', `must fit uint16, got ${reading.indexInMessage}`)
  const bytes = Buffer.alloc(STEP_BYTES)
  writeHexBytes(bytes, 0, previous, 32, 'previousDigest')
  writeUint(bytes, 32, reading.boot, 64, 'boot')
  writeUint(bytes, 64, reading.seq, 64, 'seq')
  writeHexBytes(bytes, 96, reading.messageHash, 32, 'messageHash')
  writeUint(bytes, 128, reading.indexInMessage, 32, 'indexInMessage')
  return bytesToHex(keccak256Bytes(bytes))
}

function compareBootSeq(a: DigestReading, b: DigestReading): number {
  return a.boot - b.boot || a.seq - b.seq
}

/** The digest of a set of paid readings (any order: they are chained in (boot, seq) order). */
export function readingsDigest(readings: readonly DigestReading[]): Hex {
  const chain = new ReadingsDigestChain()
  for (const reading of [...readings].sort(compareBootSeq)) chain.append(reading)
  return chain.digest
}

/**
 * The chain built incrementally, as the aggregator accepts a device's readings: it accepts them
 * per device in increasing (boot, seq) order already, and a reading out of that order is refused.
 */
export class ReadingsDigestChain {
  digest: Hex = EMPTY_READINGS_DIGEST
  length = 0
  private last: DigestReading | undefined

  append(reading: DigestReading): Hex {
    if (this.last && compareBootSeq(this.last, reading) >= 0)
      throw new MerkleLeafInvalidError(
        'readings',
        `must be chained in increasing (boot, seq): (${reading.boot}, ${reading.seq}) after (${this.last.boot}, ${this.last.seq})`,
      )
    this.digest = readingsDigestStep(this.digest, reading)
    this.length++
    this.last = reading
    return this.digest
  }
}
