/**
 * Auditor routes under /api/v1/auditor (public, no key, under the global per-address rate
 * limit): the oracle's pools and their epochs on-chain, a pool's devices, one device's pool
 * epoch checked by `verify` against the chain (leaf, proof, readings, every check), and the
 * published trees and readings archives by their hash. The only caller input that reaches the
 * artifact store is a hash the schema has already held to 0x + 64 hex digits.
 */
import type { FastifyInstance } from 'fastify'
import type { TimeGrid } from '../../../core/epochs/grid.ts'
import { type DeviceLeaf, deviceLeafHash } from '../../../core/merkle/index.ts'
import { ArtifactCorruptError } from '../../../runtime/artifact-store.ts'
import { assertEpochInDeviceTime } from '../domain/epoch-range.ts'
import { ApiError } from '../errors.ts'
import type { AuditReader, DeviceAudit, DeviceDirectory } from '../ports.ts'
import { DEVICE_ID, errorResponses, MS, NO_QUERY, POOL_ID, pagingQuery, UNITS } from '../schemas.ts'

const HASH = { type: 'string', pattern: '^0x[0-9a-f]{64}$' } as const
/** What a caller may send as a hash: 32 bytes of hex, either case (normalized to lower). */
const HASH_PARAM = { type: 'string', pattern: '^0x[0-9a-fA-F]{64}$', minLength: 66, maxLength: 66 } as const
/**
 * Epochs are uint64 on-chain; past 2^53 a JS number is no longer exact, so the schema takes those
 * below. Plain decimal digits only, like every integer parameter (validator.ts). The route then
 * refuses one that starts after 2100-01-01 (domain/epoch-range.ts), as /operator/epochs does.
 */
const EPOCH = {
  type: 'integer',
  minimum: 0,
  maximum: Number.MAX_SAFE_INTEGER,
  description:
    'a decimal epoch number; one that starts after 2100-01-01 (the end of device time) is INVALID_PARAMETER with details.maxEpoch',
} as const
/** Newest epochs one pool request lists. */
export const MAX_AUDIT_EPOCHS = 100
const STATUS = { type: 'string', enum: ['none', 'pending', 'rejected', 'final'] } as const

const EPOCH_RECORD = {
  type: 'object',
  required: ['epoch', 'status', 'attempt', 'root', 'finalizesAtMs'],
  additionalProperties: false,
  properties: {
    epoch: { type: 'integer' },
    status: STATUS,
    attempt: { type: 'integer' },
    root: HASH,
    finalizesAtMs: { ...MS, description: 'when a pending root becomes final; 0 when none' },
  },
} as const

const ARTIFACT_LINK = {
  type: 'object',
  required: ['hash', 'url'],
  additionalProperties: false,
  properties: { hash: HASH, url: { type: 'string' } },
} as const

const AUDIT = {
  type: 'object',
  required: [
    'poolId',
    'epoch',
    'deviceId',
    'verified',
    'checks',
    'chain',
    'leaf',
    'leafHash',
    'proof',
    'recomputed',
    'readings',
    'artifacts',
  ],
  additionalProperties: false,
  properties: {
    poolId: POOL_ID,
    epoch: { type: 'integer' },
    deviceId: DEVICE_ID,
    verified: { type: 'boolean', description: 'every check passed' },
    checks: {
      type: 'array',
      description: 'in order; a failed check stops the ones that depend on it',
      items: {
        type: 'object',
        required: ['check', 'ok', 'detail'],
        additionalProperties: false,
        properties: { check: { type: 'string' }, ok: { type: 'boolean' }, detail: { type: 'string' } },
      },
    },
    chain: {
      type: 'object',
      description: "RevenueOracle's finalized commitment (root, totals, artifact hashes from EpochProposed)",
      required: ['root', 'revenueUnits', 'energyWh', 'leafCount', 'treeHash', 'archiveHash'],
      additionalProperties: false,
      properties: {
        root: HASH,
        revenueUnits: UNITS,
        energyWh: UNITS,
        leafCount: { type: 'integer' },
        treeHash: HASH,
        archiveHash: HASH,
      },
    },
    leaf: {
      type: 'object',
      nullable: true,
      required: ['energyWh', 'revenueUnits', 'readings', 'readingsDigest'],
      additionalProperties: false,
      properties: {
        energyWh: UNITS,
        revenueUnits: { ...UNITS, description: 'base units of the payment token (6 decimals)' },
        readings: { type: 'integer' },
        readingsDigest: HASH,
      },
    },
    leafHash: { ...HASH, nullable: true, description: 'the leaf as MerkleProof.verify takes it' },
    proof: { type: 'array', items: HASH },
    recomputed: {
      type: 'object',
      nullable: true,
      description: 'what verify recomputed from the archive',
      required: ['readingsDigest', 'readings'],
      additionalProperties: false,
      properties: { readingsDigest: HASH, readings: { type: 'integer' } },
    },
    readings: {
      type: 'array',
      description: "the device's paid readings, from the readings archive",
      items: {
        type: 'object',
        required: ['partition', 'offset', 'receivedAtMs', 'boot', 'seq', 'ts', 'type', 'registerWh'],
        additionalProperties: false,
        properties: {
          partition: { type: 'integer' },
          offset: { type: 'string', pattern: '^[0-9]+$' },
          receivedAtMs: MS,
          boot: { type: 'integer' },
          seq: { type: 'integer' },
          ts: MS,
          type: { type: 'string' },
          registerWh: { type: 'number' },
        },
      },
    },
    artifacts: {
      type: 'object',
      required: ['tree', 'archive'],
      additionalProperties: false,
      properties: { tree: ARTIFACT_LINK, archive: ARTIFACT_LINK },
    },
  },
} as const

const artifactUrl = (prefix: string, hash: string) => `${prefix}/artifacts/${hash}`

function leafJson(leaf: DeviceLeaf | undefined) {
  if (leaf === undefined) return null
  return {
    energyWh: String(leaf.energyWh),
    revenueUnits: leaf.revenueUnits.toString(),
    readings: leaf.readings,
    readingsDigest: leaf.readingsDigest.toLowerCase(),
  }
}

/** The route's answer for an audit, or the error that says why there is none. */
async function auditJson(
  reader: AuditReader,
  prefix: string,
  args: { readonly poolId: string; readonly deviceId: string; readonly epoch: number },
  audit: DeviceAudit,
) {
  const { outcome, finalized } = audit
  const where = `${args.poolId} epoch ${args.epoch}`
  switch (outcome.status) {
    case 'unknown-device':
      throw new ApiError(
        'UNKNOWN_AUDIT_DEVICE',
        outcome.detail,
        outcome.devicePoolId === undefined ? {} : { details: { poolId: outcome.devicePoolId } },
      )
    case 'not-final': {
      const record = audit.record
      if (record === undefined || record.status === 'none') {
        const pool = await reader.pool(args.poolId)
        throw new ApiError('UNKNOWN_EPOCH', `nothing was proposed for ${where}`, {
          details: { firstEpoch: pool?.firstEpoch, nextEpoch: pool?.nextEpoch },
        })
      }
      if (record.status === 'final')
        // Final, yet verify found no EpochProposed event: the node or the contracts file is off.
        throw new ApiError(
          'UPSTREAM_UNAVAILABLE',
          `${where} is final but its EpochProposed event was not found`,
        )
      throw new ApiError('EPOCH_NOT_FINAL', `${where} is ${record.status}, not final`, {
        details: { status: record.status, attempt: record.attempt, finalizesAtMs: record.finalizesAtMs },
      })
    }
    case 'artifact-missing':
      throw new ApiError('ARTIFACT_UNAVAILABLE', `artifact ${outcome.hash} of ${where} is not in the store`, {
        details: { hash: outcome.hash },
      })
    case 'artifact-corrupt':
      throw new ApiError('ARTIFACT_CORRUPT', `an artifact of ${where} is corrupt in the store`, {
        details: { detail: outcome.detail },
      })
    case 'grid-mismatch':
      // The API's own configuration is off the chain's: no verdict about the device.
      throw new ApiError('INTERNAL', `${where} was not checked: ${outcome.detail}`)
  }
  if (finalized === undefined) throw new Error('verify checked an epoch without its commitment')
  const failed = outcome.checks.find((c) => !c.ok)
  if (failed?.check === 'LEAF_FOUND' && outcome.leaf === undefined)
    throw new ApiError(
      'DEVICE_NOT_IN_TREE',
      `the finalized tree of ${where} has no leaf for ${args.deviceId}`,
      {
        details: { leafCount: finalized.leafCount },
      },
    )
  const treeHash = finalized.treeHash.toLowerCase()
  const archiveHash = finalized.archiveHash.toLowerCase()
  return {
    ...args,
    verified: outcome.ok,
    checks: outcome.checks.map((c) => ({ check: c.check, ok: c.ok, detail: c.detail })),
    chain: {
      root: finalized.root.toLowerCase(),
      revenueUnits: finalized.revenueUnits.toString(),
      energyWh: finalized.energyWh.toString(),
      leafCount: finalized.leafCount,
      treeHash,
      archiveHash,
    },
    leaf: leafJson(outcome.leaf),
    leafHash: outcome.leaf === undefined ? null : deviceLeafHash(outcome.leaf).toLowerCase(),
    proof: outcome.proof.map((p) => p.toLowerCase()),
    recomputed:
      outcome.recomputed === undefined
        ? null
        : {
            readingsDigest: outcome.recomputed.readingsDigest.toLowerCase(),
            readings: outcome.recomputed.readings,
          },
    readings: [...(audit.readings ?? [])],
    artifacts: {
      tree: { hash: treeHash, url: artifactUrl(prefix, treeHash) },
      archive: { hash: archiveHash, url: artifactUrl(prefix, archiveHash) },
    },
  }
}

export async function auditorPlugin(
  app: FastifyInstance,
  opts: {
    readonly auditor: AuditReader
    readonly registry: DeviceDirectory
    readonly grid: TimeGrid
    readonly maxPageSize: number
  },
): Promise<void> {
  const { auditor } = opts
  const prefix = app.prefix
  // The registry is fixed for the process: each pool's devices, sorted, once.
  const devicesByPool = new Map<string, { deviceId: string; assetClass: string }[]>()
  for (const d of opts.registry.devices()) {
    const list = devicesByPool.get(d.poolId) ?? []
    list.push({ deviceId: d.deviceId, assetClass: d.assetClass })
    devicesByPool.set(d.poolId, list)
  }
  for (const list of devicesByPool.values()) list.sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1))

  const knownPool = async (poolId: string) => {
    if (!auditor.pools().includes(poolId))
      throw new ApiError('UNKNOWN_AUDIT_POOL', `pool ${poolId} is not in this deployment's contracts file`)
    const pool = await auditor.pool(poolId)
    if (pool === undefined)
      throw new ApiError('UNKNOWN_AUDIT_POOL', `pool ${poolId} is not registered in RevenueOracle`)
    return pool
  }
  const POOL_PARAMS = {
    type: 'object',
    required: ['poolId'],
    additionalProperties: false,
    properties: { poolId: POOL_ID },
  } as const

  app.get(
    '/pools',
    {
      schema: {
        tags: ['auditor'],
        summary:
          "The oracle's pools: epochs [firstEpoch, nextEpoch) are final, nextEpoch is the next to finalize",
        querystring: NO_QUERY,
        response: {
          200: {
            type: 'object',
            required: ['pools'],
            additionalProperties: false,
            properties: {
              pools: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['poolId', 'firstEpoch', 'nextEpoch', 'devices'],
                  additionalProperties: false,
                  properties: {
                    poolId: POOL_ID,
                    firstEpoch: { type: 'integer' },
                    nextEpoch: { type: 'integer' },
                    devices: { type: 'integer', description: 'registered devices of the pool' },
                  },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async () => {
      const pools = await Promise.all(
        auditor.pools().map(async (poolId) => ({ poolId, pool: await auditor.pool(poolId) })),
      )
      return {
        pools: pools.flatMap(({ poolId, pool }) =>
          pool === undefined ? [] : [{ poolId, ...pool, devices: devicesByPool.get(poolId)?.length ?? 0 }],
        ),
      }
    },
  )

  app.get<{ Params: { poolId: string }; Querystring: { limit: number } }>(
    '/pools/:poolId',
    {
      schema: {
        tags: ['auditor'],
        summary: "A pool's newest epochs with their state in RevenueOracle, newest first",
        params: POOL_PARAMS,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: MAX_AUDIT_EPOCHS, default: 24 } },
        },
        response: {
          200: {
            type: 'object',
            required: ['poolId', 'firstEpoch', 'nextEpoch', 'epochs'],
            additionalProperties: false,
            properties: {
              poolId: POOL_ID,
              firstEpoch: { type: 'integer' },
              nextEpoch: { type: 'integer' },
              epochs: { type: 'array', items: EPOCH_RECORD },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { poolId } = request.params
      const pool = await knownPool(poolId)
      const epochs: number[] = []
      for (let e = pool.nextEpoch; e >= pool.firstEpoch && epochs.length < request.query.limit; e--)
        epochs.push(e)
      return { poolId, ...pool, epochs: await auditor.records(poolId, epochs) }
    },
  )

  app.get<{ Params: { poolId: string }; Querystring: { offset: number; limit: number } }>(
    '/pools/:poolId/devices',
    {
      schema: {
        tags: ['auditor'],
        summary: "A pool's registered devices, sorted by id, paged",
        params: POOL_PARAMS,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: pagingQuery(opts.maxPageSize, opts.maxPageSize),
        },
        response: {
          200: {
            type: 'object',
            required: ['poolId', 'total', 'devices'],
            additionalProperties: false,
            properties: {
              poolId: POOL_ID,
              total: { type: 'integer' },
              devices: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['deviceId', 'assetClass'],
                  additionalProperties: false,
                  properties: { deviceId: DEVICE_ID, assetClass: { type: 'string' } },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { poolId } = request.params
      if (!auditor.pools().includes(poolId))
        throw new ApiError('UNKNOWN_AUDIT_POOL', `pool ${poolId} is not in this deployment's contracts file`)
      const all = devicesByPool.get(poolId) ?? []
      const { offset, limit } = request.query
      return { poolId, total: all.length, devices: all.slice(offset, offset + limit) }
    },
  )

  app.get<{ Params: { poolId: string; epoch: number; deviceId: string } }>(
    '/pools/:poolId/epochs/:epoch/devices/:deviceId',
    {
      schema: {
        tags: ['auditor'],
        summary:
          "A device's leaf, proof and readings for a final pool epoch, checked by verify against the chain",
        description:
          'verified=false with the failed check when the published artifacts do not hold up against the chain. ' +
          'Errors: UNKNOWN_EPOCH (nothing proposed), EPOCH_NOT_FINAL (pending or rejected), DEVICE_NOT_IN_TREE, ' +
          'ARTIFACT_UNAVAILABLE / ARTIFACT_CORRUPT (the store lacks or lost the bytes the chain names).',
        params: {
          type: 'object',
          required: ['poolId', 'epoch', 'deviceId'],
          additionalProperties: false,
          properties: { poolId: POOL_ID, epoch: EPOCH, deviceId: DEVICE_ID },
        },
        querystring: NO_QUERY,
        response: { 200: AUDIT, 409: errorResponses[404], ...errorResponses },
      },
    },
    async (request) => {
      const { poolId, deviceId, epoch } = request.params
      assertEpochInDeviceTime(opts.grid, 'epoch', epoch)
      if (!auditor.pools().includes(poolId))
        throw new ApiError('UNKNOWN_AUDIT_POOL', `pool ${poolId} is not in this deployment's contracts file`)
      const device = opts.registry.get(deviceId)
      if (device === undefined)
        throw new ApiError('UNKNOWN_AUDIT_DEVICE', `device ${deviceId} is not in the registry`)
      if (device.poolId !== poolId)
        throw new ApiError('UNKNOWN_AUDIT_DEVICE', `device ${deviceId} belongs to pool ${device.poolId}`, {
          details: { poolId: device.poolId },
        })
      const args = { poolId, deviceId, epoch }
      return auditJson(auditor, prefix, args, await auditor.audit(args))
    },
  )

  app.get<{ Params: { hash: string } }>(
    '/artifacts/:hash',
    {
      schema: {
        tags: ['auditor'],
        summary:
          'A published tree or readings archive by its keccak256 (the hash on-chain), checked against it',
        params: {
          type: 'object',
          required: ['hash'],
          additionalProperties: false,
          properties: { hash: HASH_PARAM },
        },
        querystring: NO_QUERY,
        response: {
          200: { description: 'the artifact bytes (JSON), exactly as published', type: 'string' },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const hash = request.params.hash.toLowerCase() as `0x${string}`
      let bytes: Uint8Array | undefined
      try {
        bytes = await auditor.artifact(hash)
      } catch (error) {
        if (error instanceof ArtifactCorruptError)
          throw new ApiError('ARTIFACT_CORRUPT', `artifact ${hash} is corrupt in the store`, { cause: error })
        throw error
      }
      if (bytes === undefined) throw new ApiError('ARTIFACT_MISSING', `no artifact ${hash} in this store`)
      return reply
        .type('application/json')
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'public, max-age=31536000, immutable')
        .header('etag', `"${hash}"`)
        .header('content-disposition', `inline; filename="${hash.slice(2)}.json"`)
        .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
    },
  )
}
