/**
 * The device registry: who may publish, as which class, for which pool, at which tariff, with
 * which key. Services load it from a file (an adapter's job); this module parses and indexes it.
 * Its commitment on-chain (a Merkle root over device records) lands with the oracle.
 */
import { z } from 'zod'
import { GridrootError } from '../errors/base.ts'
import { DEVICE_ID_PATTERN } from '../telemetry/topic.ts'
import { ASSET_CLASSES, type AssetClass } from '../telemetry/types.ts'
import { publicKeyFromHex, publicKeyProblem } from './keys.ts'

export const DeviceRecordSchema = z.strictObject({
  deviceId: z.string().regex(DEVICE_ID_PATTERN),
  assetClass: z.enum(ASSET_CLASSES),
  poolId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/),
  /** Nameplate power (charger output, inverter AC rating, cabinet charging power). */
  ratedPowerW: z.number().int().positive(),
  tariffId: z.string().min(1).max(64),
  publicKey: z.string().regex(/^[0-9a-f]{64}$/),
})
export type DeviceRecord = z.infer<typeof DeviceRecordSchema>

export const DeviceRegistryFileSchema = z.strictObject({
  version: z.literal(1),
  devices: z.array(DeviceRecordSchema),
})
export type DeviceRegistryFile = z.infer<typeof DeviceRegistryFileSchema>

export interface RegisteredDevice extends DeviceRecord {
  /** Raw 32 bytes of `publicKey`, what `verifyBytes` takes. */
  readonly publicKeyRaw: Buffer
}

export interface DeviceRegistry {
  readonly size: number
  get(deviceId: string): RegisteredDevice | undefined
  devices(): IterableIterator<RegisteredDevice>
  countByClass(): Record<AssetClass, number>
}

export class RegistryInvalidError extends GridrootError<'REGISTRY_INVALID'> {
  override readonly name = 'RegistryInvalidError'
  constructor(detail: string, cause?: unknown) {
    super('REGISTRY_INVALID', `the device registry is invalid: ${detail}`, {
      metaMessages: ['Regenerate it (npm run simulate -- --write-registry <file>) or fix the named entry.'],
      cause,
    })
  }
}

/** Parses a registry document (already read from disk) and indexes it by deviceId. */
export function parseRegistry(document: unknown): DeviceRegistry {
  const parsed = DeviceRegistryFileSchema.safeParse(document)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new RegistryInvalidError(
      `${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'invalid'}`,
      parsed.error,
    )
  }
  return indexRegistry(parsed.data.devices)
}

export function indexRegistry(records: readonly DeviceRecord[]): DeviceRegistry {
  const byId = new Map<string, RegisteredDevice>()
  for (const record of records) {
    const earlier = byId.get(record.deviceId)
    if (earlier)
      throw new RegistryInvalidError(
        earlier.poolId === record.poolId
          ? `deviceId ${record.deviceId} appears twice (pool ${record.poolId})`
          : `deviceId ${record.deviceId} is in two pools, ${earlier.poolId} and ${record.poolId}: a device belongs to one pool`,
      )
    const publicKeyRaw = publicKeyFromHex(record.publicKey)
    const problem = publicKeyProblem(publicKeyRaw)
    if (problem) throw new RegistryInvalidError(`deviceId ${record.deviceId}: its public key ${problem}`)
    byId.set(record.deviceId, { ...record, publicKeyRaw })
  }
  return {
    size: byId.size,
    get: (deviceId) => byId.get(deviceId),
    devices: () => byId.values(),
    countByClass: () => {
      const counts: Record<AssetClass, number> = { charger: 0, pv: 0, swap: 0 }
      for (const d of byId.values()) counts[d.assetClass]++
      return counts
    },
  }
}
