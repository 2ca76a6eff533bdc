/**
 * The three leaf layouts committed on-chain, each `keccak256(bytes.concat(keccak256(abi.encode(…))))`
 * (OpenZeppelin's standard leaf; the second hash keeps a 64-byte inner node from passing as a
 * leaf). The Solidity side (contracts/) encodes the same tuples; the encodings below are the
 * contract and change only together with it.
 */
import type { Address, Hex } from 'viem'
import * as abi from './abi-words.ts'
import { MerkleLeafInvalidError } from './errors.ts'
import { poolIdFromBytes32, poolIdToBytes32 } from './pool-id.ts'

// Local copies of the word writers: run under tsx's CommonJS transform, every use of an imported
// binding is a getter call, ~10 % of encoding a million leaves when measured.
const { stringTailLength, utf8Length, writeHexBytes, writeOffsetWord, writeStringTail, writeUint } = abi

/** A device's paid total for one pool epoch. */
export interface DeviceLeaf {
  readonly poolId: string
  readonly epoch: number | bigint
  readonly deviceId: string
  readonly energyWh: number | bigint
  readonly revenueUnits: bigint
  /** Accepted readings the leaf pays for (those in `readingsDigest`). */
  readonly readings: number
  readonly readingsDigest: Hex
}

/** A holder's cumulative entitlement in a pool, in base units of the payment token. */
export interface HolderLeaf {
  readonly poolId: string
  readonly account: Address
  readonly cumulativeAmount: bigint
}

/** A registered device, as the pool's registry root commits it. */
export interface RegistryLeaf {
  readonly deviceId: string
  readonly assetClass: string
  readonly poolId: string
  /** Raw 32-byte ed25519 public key, 0x-hex. */
  readonly publicKey: Hex
  readonly ratedPowerW: number | bigint
  readonly tariffId: string
}

/** A leaf value as the StandardMerkleTree dump stores it: integers as decimal strings. */
export type DumpValue = readonly string[]

export const DEVICE_LEAF_ENCODING = [
  'bytes32',
  'uint64',
  'string',
  'uint256',
  'uint256',
  'uint32',
  'bytes32',
] as const
export const HOLDER_LEAF_ENCODING = ['bytes32', 'address', 'uint256'] as const
export const REGISTRY_LEAF_ENCODING = ['string', 'string', 'bytes32', 'bytes32', 'uint256', 'string'] as const

/** How one kind of leaf is encoded, keyed and written into a published tree. */
export interface LeafLayout<L> {
  readonly kind: 'device' | 'holder' | 'registry'
  readonly encoding: readonly string[]
  /** What must be unique within a tree (deviceId, account). */
  key(leaf: L): string
  /** What all leaves of one tree share (pool and epoch, or pool), for messages. */
  scope(leaf: L): string
  sameScope(a: L, b: L): boolean
  encodedLength(leaf: L): number
  /** Writes `abi.encode(...)` of the leaf at `offset`; the range must be zeroed. */
  write(leaf: L, target: Buffer, offset: number): void
  toValues(leaf: L): DumpValue
  fromValues(values: readonly unknown[]): L
}

const WORD = 32
const poolIdCache = new Map<string, { readonly hex: Hex; readonly bytes: Buffer }>()
function poolEntry(poolId: string): { readonly hex: Hex; readonly bytes: Buffer } {
  let entry = poolIdCache.get(poolId)
  if (entry === undefined) {
    const hex = poolIdToBytes32(poolId)
    entry = { hex, bytes: Buffer.from(hex.slice(2), 'hex') }
    if (poolIdCache.size > 10_000) poolIdCache.clear()
    poolIdCache.set(poolId, entry)
  }
  return entry
}
const poolWord = (poolId: string): Hex => poolEntry(poolId).hex
function writePoolId(target: Buffer, offset: number, poolId: string): void {
  target.set(poolEntry(poolId).bytes, offset)
}

function nonEmptyString(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0)
    throw new MerkleLeafInvalidError(field, `must be a non-empty string, got ${JSON.stringify(value)}`)
  return value
}

function decimal(field: string, value: unknown): bigint {
  if (typeof value === 'string' && /^(0|[1-9][0-9]*)$/.test(value)) return BigInt(value)
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value)
  throw new MerkleLeafInvalidError(field, `must be a decimal integer, got ${JSON.stringify(value)}`)
}

const HEX_PATTERNS = new Map<number, RegExp>()
function hexValue(field: string, value: unknown, byteLength: number): Hex {
  let pattern = HEX_PATTERNS.get(byteLength)
  if (!pattern) {
    pattern = new RegExp(`^0x[0-9a-fA-F]{${2 * byteLength}}$`)
    HEX_PATTERNS.set(byteLength, pattern)
  }
  if (typeof value !== 'string' || !pattern.test(value))
    throw new MerkleLeafInvalidError(field, `must be 0x and ${2 * byteLength} hex digits`)
  return value.toLowerCase() as Hex
}

function expectValues(values: readonly unknown[], n: number, kind: string): void {
  if (!Array.isArray(values) || values.length !== n)
    throw new MerkleLeafInvalidError(kind, `a ${kind} leaf value has ${n} fields`)
}

export const deviceLeafLayout: LeafLayout<DeviceLeaf> = {
  kind: 'device',
  encoding: DEVICE_LEAF_ENCODING,
  key: (leaf) => leaf.deviceId,
  scope: (leaf) => `pool ${leaf.poolId} epoch ${leaf.epoch}`,
  sameScope: (a, b) => a.poolId === b.poolId && (a.epoch === b.epoch || BigInt(a.epoch) === BigInt(b.epoch)),
  encodedLength: (leaf) => 7 * WORD + stringTailLength(utf8Length(leaf.deviceId)),
  write(leaf, target, offset) {
    writePoolId(target, offset, leaf.poolId)
    writeUint(target, offset + WORD, leaf.epoch, 64, 'epoch')
    writeOffsetWord(target, offset + 2 * WORD, 7 * WORD)
    writeUint(target, offset + 3 * WORD, leaf.energyWh, 256, 'energyWh')
    writeUint(target, offset + 4 * WORD, leaf.revenueUnits, 256, 'revenueUnits')
    writeUint(target, offset + 5 * WORD, leaf.readings, 32, 'readings')
    writeHexBytes(target, offset + 6 * WORD, leaf.readingsDigest, 32, 'readingsDigest')
    const deviceId = nonEmptyString('deviceId', leaf.deviceId)
    writeStringTail(target, offset + 7 * WORD, deviceId, utf8Length(deviceId))
  },
  toValues: (leaf) => [
    poolWord(leaf.poolId),
    String(leaf.epoch),
    leaf.deviceId,
    String(leaf.energyWh),
    String(leaf.revenueUnits),
    String(leaf.readings),
    leaf.readingsDigest.toLowerCase(),
  ],
  fromValues(values) {
    expectValues(values, 7, 'device')
    const [pool, epoch, deviceId, energyWh, revenueUnits, readings, digest] = values
    return {
      poolId: poolIdFromBytes32(hexValue('poolId', pool, 32)),
      epoch: decimal('epoch', epoch),
      deviceId: nonEmptyString('deviceId', deviceId),
      energyWh: decimal('energyWh', energyWh),
      revenueUnits: decimal('revenueUnits', revenueUnits),
      readings: Number(decimal('readings', readings)),
      readingsDigest: hexValue('readingsDigest', digest, 32),
    }
  },
}

export const holderLeafLayout: LeafLayout<HolderLeaf> = {
  kind: 'holder',
  encoding: HOLDER_LEAF_ENCODING,
  key: (leaf) => leaf.account.toLowerCase(),
  scope: (leaf) => `pool ${leaf.poolId}`,
  sameScope: (a, b) => a.poolId === b.poolId,
  encodedLength: () => 3 * WORD,
  write(leaf, target, offset) {
    writePoolId(target, offset, leaf.poolId)
    writeHexBytes(target, offset + WORD + 12, leaf.account, 20, 'account')
    writeUint(target, offset + 2 * WORD, leaf.cumulativeAmount, 256, 'cumulativeAmount')
  },
  toValues: (leaf) => [poolWord(leaf.poolId), leaf.account.toLowerCase(), String(leaf.cumulativeAmount)],
  fromValues(values) {
    expectValues(values, 3, 'holder')
    const [pool, account, cumulativeAmount] = values
    return {
      poolId: poolIdFromBytes32(hexValue('poolId', pool, 32)),
      account: hexValue('account', account, 20) as Address,
      cumulativeAmount: decimal('cumulativeAmount', cumulativeAmount),
    }
  },
}

export const registryLeafLayout: LeafLayout<RegistryLeaf> = {
  kind: 'registry',
  encoding: REGISTRY_LEAF_ENCODING,
  key: (leaf) => leaf.deviceId,
  scope: (leaf) => `pool ${leaf.poolId}`,
  sameScope: (a, b) => a.poolId === b.poolId,
  encodedLength: (leaf) =>
    6 * WORD +
    stringTailLength(utf8Length(leaf.deviceId)) +
    stringTailLength(utf8Length(leaf.assetClass)) +
    stringTailLength(utf8Length(leaf.tariffId)),
  write(leaf, target, offset) {
    const deviceId = nonEmptyString('deviceId', leaf.deviceId)
    const assetClass = nonEmptyString('assetClass', leaf.assetClass)
    const tariffId = nonEmptyString('tariffId', leaf.tariffId)
    const idBytes = utf8Length(deviceId)
    const classBytes = utf8Length(assetClass)
    const tariffBytes = utf8Length(tariffId)
    const classAt = 6 * WORD + stringTailLength(idBytes)
    const tariffAt = classAt + stringTailLength(classBytes)
    writeOffsetWord(target, offset, 6 * WORD)
    writeOffsetWord(target, offset + WORD, classAt)
    writePoolId(target, offset + 2 * WORD, leaf.poolId)
    writeHexBytes(target, offset + 3 * WORD, leaf.publicKey, 32, 'publicKey')
    writeUint(target, offset + 4 * WORD, leaf.ratedPowerW, 256, 'ratedPowerW')
    writeOffsetWord(target, offset + 5 * WORD, tariffAt)
    writeStringTail(target, offset + 6 * WORD, deviceId, idBytes)
    writeStringTail(target, offset + classAt, assetClass, classBytes)
    writeStringTail(target, offset + tariffAt, tariffId, tariffBytes)
  },
  toValues: (leaf) => [
    leaf.deviceId,
    leaf.assetClass,
    poolWord(leaf.poolId),
    leaf.publicKey.toLowerCase(),
    String(leaf.ratedPowerW),
    leaf.tariffId,
  ],
  fromValues(values) {
    expectValues(values, 6, 'registry')
    const [deviceId, assetClass, pool, publicKey, ratedPowerW, tariffId] = values
    return {
      deviceId: nonEmptyString('deviceId', deviceId),
      assetClass: nonEmptyString('assetClass', assetClass),
      poolId: poolIdFromBytes32(hexValue('poolId', pool, 32)),
      publicKey: hexValue('publicKey', publicKey, 32),
      ratedPowerW: decimal('ratedPowerW', ratedPowerW),
      tariffId: nonEmptyString('tariffId', tariffId),
    }
  },
}

/** `abi.encode(...)` of one leaf, as bytes (for tests, audits and one-off checks). */
export function encodeLeaf<L>(layout: LeafLayout<L>, leaf: L): Uint8Array {
  const bytes = Buffer.alloc(layout.encodedLength(leaf))
  layout.write(leaf, bytes, 0)
  return bytes
}
