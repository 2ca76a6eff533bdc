import fc from 'fast-check'
import { encodeAbiParameters, type Hex, keccak256 } from 'viem'
import { describe, expect, it } from 'vitest'
import {
  type DigestReading,
  EMPTY_READINGS_DIGEST,
  messageHash,
  ReadingsDigestChain,
  readingsDigest,
  readingsDigestStep,
} from './readings-digest.ts'

const reference = (readings: DigestReading[]): Hex =>
  [...readings]
    .sort((a, b) => a.boot - b.boot || a.seq - b.seq)
    .reduce<Hex>(
      (d, r) =>
        keccak256(
          encodeAbiParameters(
            [
              { type: 'bytes32' },
              { type: 'uint64' },
              { type: 'uint64' },
              { type: 'bytes32' },
              { type: 'uint16' },
            ],
            [d, BigInt(r.boot), BigInt(r.seq), r.messageHash, r.indexInMessage],
          ),
        ),
      EMPTY_READINGS_DIGEST,
    )

const reading = fc.record({
  boot: fc.nat({ max: 5 }),
  seq: fc.nat({ max: 1_000_000 }),
  messageHash: fc
    .uint8Array({ minLength: 32, maxLength: 32 })
    .map((b) => `0x${Buffer.from(b).toString('hex')}` as Hex),
  indexInMessage: fc.nat({ max: 999 }),
})
const readings = fc.uniqueArray(reading, { selector: (r) => `${r.boot}/${r.seq}`, maxLength: 30 })

describe('readingsDigest', () => {
  it('is the keccak256(abi.encode(d, boot, seq, messageHash, index)) chain in (boot, seq) order', () => {
    fc.assert(
      fc.property(readings, (rs) => {
        expect(readingsDigest(rs)).toBe(reference(rs))
      }),
    )
  })

  it('does not depend on the order the readings are given in', () => {
    fc.assert(
      fc.property(
        readings.chain((rs) => fc.tuple(fc.constant(rs), fc.shuffledSubarray(rs, { minLength: rs.length }))),
        ([a, b]) => {
          expect(readingsDigest(b)).toBe(readingsDigest(a))
        },
      ),
    )
  })

  it('no readings: 0x00…00; the message hash is keccak256 of the signed bytes', () => {
    expect(readingsDigest([])).toBe(EMPTY_READINGS_DIGEST)
    const bytes = Buffer.from('{"v":1,"deviceId":"c-1","readings":[],"sig":"x"}')
    expect(messageHash(bytes)).toBe(keccak256(bytes))
  })

  it('the incremental chain equals the batch digest and refuses readings out of (boot, seq) order', () => {
    fc.assert(
      fc.property(readings, (rs) => {
        const chain = new ReadingsDigestChain()
        for (const r of [...rs].sort((a, b) => a.boot - b.boot || a.seq - b.seq)) chain.append(r)
        expect(chain.digest).toBe(readingsDigest(rs))
        expect(chain.length).toBe(rs.length)
      }),
    )
    const chain = new ReadingsDigestChain()
    const r = { boot: 1, seq: 5, messageHash: EMPTY_READINGS_DIGEST, indexInMessage: 0 }
    chain.append(r)
    expect(() => chain.append({ ...r, seq: 5 })).toThrow(
      expect.objectContaining({ code: 'MERKLE_LEAF_INVALID' }),
    )
    expect(() => chain.append({ ...r, boot: 0, seq: 9 })).toThrow(
      expect.objectContaining({ code: 'MERKLE_LEAF_INVALID' }),
    )
    chain.append({ ...r, boot: 2, seq: 1 })
    expect(() => readingsDigestStep(EMPTY_READINGS_DIGEST, { ...r, indexInMessage: 70_000 })).toThrow()
  })
})
