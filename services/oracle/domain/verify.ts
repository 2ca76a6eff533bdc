/**
 * `verify`: what an auditor does with a device, an epoch and nothing but the published artifacts,
 * the registry, the aggregation settings and tariffs, and the chain. Pure: the adapter
 * (services/oracle/verify.ts) fetches the finalized commitment, the two files (by the hashes the
 * chain holds) and the device's registry entry, hands them in, and adds the on-chain check.
 *
 * Checks, each with a stable code, in order (a failed check stops the ones that depend on it):
 * TREE_HASH the tree file hashes to the treeHash committed with the root;
 * TREE_ROOT the tree's root is the finalized root; COMMITMENT the tree backs the epoch's committed
 * leafCount, revenueUnits and energyWh, with leaves only of this pool and epoch and only of devices
 * registered in the pool (core/merkle/commitment-check.ts; epoch-level, stops nothing); LEAF_FOUND the device has a leaf;
 * (without a leaf, LEAF_MISSING instead of the rest: the archive pays the device nothing, idle, or it
 * pays readings the tree left out); PROOF the leaf's proof folds to the finalized root (OpenZeppelin MerkleProof semantics, here);
 * CHAIN_PROOF RevenueOracle.verifyDeviceLeaf(leaf, proof) is true on-chain (added by the adapter);
 * ARCHIVE_HASH the archive hashes to the committed archiveHash; ARCHIVE_SCOPE it is this pool and epoch;
 * SIGNATURES every archived record of the device decodes and carries the device's registered
 * signature; READINGS_DIGEST the readings the archive flags as paid, chained in (boot, seq) order,
 * give the leaf's readingsDigest and its readings count; LEAF_RECOMPUTED the device's archived
 * steps run through the aggregator's rules (core/aggregation via domain/leaf-recompute.ts) give the
 * leaf's energyWh, revenueUnits, readings and readingsDigest. The last two are independent: both
 * run once the signatures hold.
 */
import type { DeviceRecord } from '../../../core/identity/registry.ts'
import {
  checkTreeCommitment,
  type DeviceLeaf,
  type DeviceTree,
  deviceLeafHash,
  deviceLeafLayout,
  messageHash,
  parseTreeDump,
  readingsDigest,
  verifyProof,
} from '../../../core/merkle/index.ts'
import { decodeAcceptedRecord } from '../../../core/telemetry/decode.ts'
import { verifyMessage } from '../../../core/telemetry/sign.ts'
import type { FinalizedEpoch } from '../ports.ts'
import {
  ARCHIVE_FORMAT,
  ARCHIVE_FORMAT_V1,
  decodeArchive,
  deviceSteps,
  type ReadingsArchive,
} from './archive.ts'
import { type LeafRules, recomputeLeaf } from './leaf-recompute.ts'
import { contentHash } from './pool-epoch.ts'
import type { Hex } from './proposal.ts'

export const VERIFY_CHECKS = [
  'TREE_HASH',
  'TREE_ROOT',
  'COMMITMENT',
  'LEAF_FOUND',
  'PROOF',
  'CHAIN_PROOF',
  'ARCHIVE_HASH',
  'ARCHIVE_SCOPE',
  'SIGNATURES',
  'READINGS_DIGEST',
  'LEAF_RECOMPUTED',
] as const
/** The checks of a device with a leaf, in order; LEAF_MISSING replaces LEAF_FOUND and the rest without one. */
export type VerifyCheck = (typeof VERIFY_CHECKS)[number] | 'LEAF_MISSING'

export interface VerifyInput {
  readonly poolId: string
  readonly epoch: number
  readonly deviceId: string
  readonly finalized: FinalizedEpoch
  readonly treeBytes: Uint8Array
  readonly archiveBytes: Uint8Array
  /** The device's registry entry (its public key signs its telemetry; class, rating and tariff price it). */
  readonly device: DeviceRecord
  /** The device ids the registry puts in the pool: every leaf must be one of them (COMMITMENT). */
  readonly poolDeviceIds: ReadonlySet<string>
  /** The aggregation settings and tariff book the services run (GRIDROOT_AGG_*, GRIDROOT_TARIFFS_FILE). */
  readonly rules: LeafRules
}

/** The leaf's fields as recomputed from the archive through the aggregator's rules. */
export interface RecomputedLeafFields {
  readonly energyWh: bigint
  readonly revenueUnits: bigint
  readonly readings: number
  readonly readingsDigest: Hex
}

export interface VerifyResult {
  readonly ok: boolean
  readonly checks: readonly { readonly check: VerifyCheck; readonly ok: boolean; readonly detail: string }[]
  readonly leaf: DeviceLeaf | undefined
  readonly proof: readonly Hex[]
  /** The digest and count of the readings the archive flags as paid. */
  readonly recomputed: { readonly readingsDigest: Hex; readonly readings: number } | undefined
  /** LEAF_RECOMPUTED's result: the leaf as the rules give it from the archive. */
  readonly leafRecomputed?: RecomputedLeafFields | undefined
}

/**
 * The two artifacts as verify reads them, each hashed and loaded at most once: from bytes here
 * (`artifactsFromBytes`), or kept by hash between audits (the API's cache,
 * services/api/adapters/artifact-cache.ts). `archive(deviceId)` may hold only that device's
 * records (a slice of the whole): the checks read no other device's.
 */
export interface PreparedArtifacts {
  /** keccak256 of the tree file's bytes. */
  readonly treeHash: Hex
  /** The parsed tree; throws when the file does not load. */
  readonly tree: () => DeviceTree
  /** keccak256 of the archive file's bytes. */
  readonly archiveHash: Hex
  /** The archive (at least the device's records) and its whole record count; throws when it does not load. */
  readonly archive: (deviceId: string) => { readonly archive: ReadingsArchive; readonly recordCount: number }
}

export type PreparedVerifyInput = Omit<VerifyInput, 'treeBytes' | 'archiveBytes'> & {
  readonly artifacts: PreparedArtifacts
}

/** The artifacts of two files' bytes, hashed now, parsed when verify asks (after the hash passed). */
export function artifactsFromBytes(treeBytes: Uint8Array, archiveBytes: Uint8Array): PreparedArtifacts {
  return {
    treeHash: contentHash(treeBytes),
    tree: () => parseTreeDump(deviceLeafLayout, treeBytes),
    archiveHash: contentHash(archiveBytes),
    archive: () => {
      const archive = decodeArchive(archiveBytes)
      return { archive, recordCount: archive.records.length }
    },
  }
}

export function verifyDeviceEpoch(input: VerifyInput): VerifyResult {
  const { treeBytes, archiveBytes, ...rest } = input
  return verifyPreparedEpoch({ ...rest, artifacts: artifactsFromBytes(treeBytes, archiveBytes) })
}

/** The checks, on artifacts hashed and parsed beforehand. */
export function verifyPreparedEpoch(input: PreparedVerifyInput): VerifyResult {
  const checks: { check: VerifyCheck; ok: boolean; detail: string }[] = []
  const fail = (check: VerifyCheck, detail: string, rest: Partial<VerifyResult> = {}): VerifyResult => {
    checks.push({ check, ok: false, detail })
    return { ok: false, checks, leaf: undefined, proof: [], recomputed: undefined, ...rest }
  }
  const pass = (check: VerifyCheck, detail: string) => checks.push({ check, ok: true, detail })
  const { finalized } = input

  const treeHash = input.artifacts.treeHash
  if (treeHash !== finalized.treeHash.toLowerCase())
    return fail('TREE_HASH', `the tree file hashes to ${treeHash}, the chain committed ${finalized.treeHash}`)
  pass('TREE_HASH', treeHash)
  let tree: DeviceTree
  try {
    tree = input.artifacts.tree()
  } catch (error) {
    return fail('TREE_ROOT', `the tree file does not load: ${error instanceof Error ? error.message : error}`)
  }
  if (tree.root.toLowerCase() !== finalized.root.toLowerCase())
    return fail('TREE_ROOT', `the tree's root ${tree.root} is not the finalized root ${finalized.root}`)
  pass('TREE_ROOT', finalized.root)
  // Epoch-level: the money follows the committed totals, the audit the leaves (attack10a F1).
  // Every device of the epoch fails it alike; the device's own checks go on (none depends on it).
  const problems = checkTreeCommitment({
    tree,
    commitment: { ...finalized, poolId: input.poolId, epoch: input.epoch },
    registeredDeviceIds: input.poolDeviceIds,
  })
  if (problems.length === 0)
    pass(
      'COMMITMENT',
      `${tree.leafCount} leaves, all registered, sum to the committed revenueUnits and energyWh`,
    )
  else
    checks.push({
      check: 'COMMITMENT',
      ok: false,
      detail: problems.map((p) => `${p.code}: ${p.message}`).join('; '),
    })
  const rank = tree.rankOf(input.deviceId)
  if (rank === undefined) return noLeaf(input, checks)
  const leaf = tree.leaves[rank] as DeviceLeaf
  if (leaf.poolId !== input.poolId || BigInt(leaf.epoch) !== BigInt(input.epoch))
    return fail('LEAF_FOUND', `the leaf is for ${leaf.poolId}/${leaf.epoch}`, { leaf })
  pass('LEAF_FOUND', `rank ${rank}`)
  const proof = tree.proof(rank)
  if (!verifyProof(finalized.root, deviceLeafHash(leaf), proof))
    return fail('PROOF', 'the proof does not fold to the finalized root', { leaf, proof })
  pass('PROOF', `${proof.length} nodes`)

  const archiveHash = input.artifacts.archiveHash
  if (archiveHash !== finalized.archiveHash.toLowerCase())
    return fail(
      'ARCHIVE_HASH',
      `the archive hashes to ${archiveHash}, the chain committed ${finalized.archiveHash}`,
      {
        leaf,
        proof,
      },
    )
  pass('ARCHIVE_HASH', archiveHash)
  let archive: ReadingsArchive
  let recordCount: number
  try {
    ;({ archive, recordCount } = input.artifacts.archive(input.deviceId))
  } catch (error) {
    return fail('ARCHIVE_SCOPE', error instanceof Error ? error.message : String(error), { leaf, proof })
  }
  if (archive.poolId !== input.poolId || archive.epoch !== input.epoch)
    return fail('ARCHIVE_SCOPE', `the archive is for ${archive.poolId}/${archive.epoch}`, { leaf, proof })
  pass('ARCHIVE_SCOPE', `${recordCount} records`)

  const publicKey = Buffer.from(input.device.publicKey, 'hex')
  const digestReadings: { boot: number; seq: number; messageHash: Hex; indexInMessage: number }[] = []
  let records = 0
  for (const entry of archive.records) {
    if (entry.deviceId !== input.deviceId) continue
    records++
    const bytes = Buffer.from(entry.valueBase64, 'base64')
    let message: ReturnType<typeof decodeAcceptedRecord>
    try {
      message = decodeAcceptedRecord(bytes)
    } catch (error) {
      return fail(
        'SIGNATURES',
        `record ${entry.partition}/${entry.offset} does not decode: ${String(error)}`,
        {
          leaf,
          proof,
        },
      )
    }
    if (message.deviceId !== input.deviceId || !verifyMessage(message, publicKey))
      return fail(
        'SIGNATURES',
        `record ${entry.partition}/${entry.offset} is not signed by ${input.deviceId}`,
        {
          leaf,
          proof,
        },
      )
    const hash = messageHash(bytes)
    for (const index of entry.paid) {
      const reading = message.readings[index]
      if (!reading)
        return fail('READINGS_DIGEST', `record ${entry.partition}/${entry.offset} has no reading ${index}`, {
          leaf,
          proof,
        })
      digestReadings.push({ boot: message.boot, seq: reading.seq, messageHash: hash, indexInMessage: index })
    }
  }
  pass('SIGNATURES', `${records} records signed by the registered key`)
  const recomputed = { readingsDigest: readingsDigest(digestReadings), readings: digestReadings.length }
  if (
    recomputed.readingsDigest !== leaf.readingsDigest.toLowerCase() ||
    recomputed.readings !== leaf.readings
  )
    checks.push({
      check: 'READINGS_DIGEST',
      ok: false,
      detail: `the archive flags ${recomputed.readings} readings as paid, digest ${recomputed.readingsDigest}; the leaf says ${leaf.readings} and ${leaf.readingsDigest}`,
    })
  else pass('READINGS_DIGEST', `${recomputed.readings} readings`)

  let again: ReturnType<typeof recomputeLeaf>
  try {
    again = recomputeLeaf(input.rules, input.device, input.epoch, deviceSteps(archive, input.deviceId))
  } catch (error) {
    checks.push({
      check: 'LEAF_RECOMPUTED',
      ok: false,
      detail: `the rules refused the archive: ${String(error)}`,
    })
    return { ok: false, checks, leaf, proof, recomputed }
  }
  const leafRecomputed: RecomputedLeafFields = {
    energyWh: BigInt(again.energyWh),
    revenueUnits: again.revenueUnits,
    readings: again.readings,
    readingsDigest: readingsDigest(
      again.paid.map((p) => ({
        boot: p.boot,
        seq: p.seq,
        messageHash: messageHash(Buffer.from(p.record.valueBase64, 'base64')),
        indexInMessage: p.indexInMessage,
      })),
    ),
  }
  const show = (f: RecomputedLeafFields | DeviceLeaf) =>
    `energyWh=${f.energyWh} revenueUnits=${f.revenueUnits} readings=${f.readings} readingsDigest=${f.readingsDigest.toLowerCase()}`
  const same =
    leafRecomputed.energyWh === BigInt(leaf.energyWh) &&
    leafRecomputed.revenueUnits === BigInt(leaf.revenueUnits) &&
    leafRecomputed.readings === leaf.readings &&
    leafRecomputed.readingsDigest === leaf.readingsDigest.toLowerCase()
  if (same) pass('LEAF_RECOMPUTED', show(leafRecomputed))
  else
    checks.push({
      check: 'LEAF_RECOMPUTED',
      ok: false,
      detail: `the rules give ${show(leafRecomputed)} from ${archiveKind(archive.format)}; the leaf says ${show(leaf)}`,
    })
  return { ok: checks.every((c) => c.ok), checks, leaf, proof, recomputed, leafRecomputed }
}

/** What LEAF_RECOMPUTED recomputed from: an older archive lacks inputs the rules read. */
const archiveKind = (format: ReadingsArchive['format']) =>
  format === ARCHIVE_FORMAT
    ? 'the archive'
    : format === ARCHIVE_FORMAT_V1
      ? `a ${format} archive (no watermarks or releases)`
      : `a ${format} archive (no partition clocks: an accelerated run's leaves may recompute differently)`

/**
 * The device has no leaf: whether it earned is the archive's to say (attack10a F3: a device left
 * out and an idle one got the same answer). Paid readings of the device, or steps the rules book
 * energy or revenue from, without a leaf fail LEAF_MISSING naming what they give; none pass it:
 * idle, nothing earned and nothing owed by this commitment. An archive that the signers also
 * stripped of the device's records reads as idle: the archive holds only what they put in it.
 */
function noLeaf(
  input: PreparedVerifyInput,
  checks: { check: VerifyCheck; ok: boolean; detail: string }[],
): VerifyResult {
  const done = (check: VerifyCheck, ok: boolean, detail: string): VerifyResult => {
    checks.push({ check, ok, detail })
    return { ok: checks.every((c) => c.ok), checks, leaf: undefined, proof: [], recomputed: undefined }
  }
  const { finalized } = input
  if (input.artifacts.archiveHash !== finalized.archiveHash.toLowerCase())
    return done(
      'ARCHIVE_HASH',
      false,
      `the archive hashes to ${input.artifacts.archiveHash}, the chain committed ${finalized.archiveHash}`,
    )
  let archive: ReadingsArchive
  try {
    ;({ archive } = input.artifacts.archive(input.deviceId))
  } catch (error) {
    return done('ARCHIVE_SCOPE', false, error instanceof Error ? error.message : String(error))
  }
  if (archive.poolId !== input.poolId || archive.epoch !== input.epoch)
    return done('ARCHIVE_SCOPE', false, `the archive is for ${archive.poolId}/${archive.epoch}`)
  const own = archive.records.filter((r) => r.deviceId === input.deviceId)
  const paid = own.reduce((n, r) => n + r.paid.length, 0)
  let earned = ''
  let booked = false
  try {
    const again = recomputeLeaf(input.rules, input.device, input.epoch, deviceSteps(archive, input.deviceId))
    booked = again.energyWh !== 0 || again.revenueUnits !== 0n || again.readings > 0
    earned = `; the rules give energyWh=${again.energyWh} revenueUnits=${again.revenueUnits} readings=${again.readings}`
  } catch (error) {
    if (own.length > 0) earned = `; the rules refused its records: ${String(error)}`
  }
  if (paid > 0 || booked)
    return done(
      'LEAF_MISSING',
      false,
      `${input.deviceId} has no leaf in this tree, but the archive flags ${paid} of its readings as paid in ${own.length} records${earned}: it was left out`,
    )
  return done(
    'LEAF_MISSING',
    true,
    `idle: nothing earned, nothing owed (${input.deviceId} has no leaf, and the archive ${own.length === 0 ? 'has no record of it' : `pays none of its ${own.length} records`})`,
  )
}
