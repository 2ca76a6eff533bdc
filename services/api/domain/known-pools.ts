/**
 * Pool ids a caller names are checked against the registry's pools on every operator route
 * (UNKNOWN_POOL 404): an unknown pool is a mistake to be told, not a filter that matches nothing.
 */
import { ApiError } from '../errors.ts'
import type { DeviceDirectory } from '../ports.ts'

const poolsByRegistry = new WeakMap<DeviceDirectory, ReadonlySet<string>>()

/** The registry's pools (the registry is fixed for the process: read once). */
export function registryPools(registry: DeviceDirectory): ReadonlySet<string> {
  let pools = poolsByRegistry.get(registry)
  if (pools === undefined) {
    pools = new Set([...registry.devices()].map((d) => d.poolId))
    poolsByRegistry.set(registry, pools)
  }
  return pools
}

export function assertKnownPools(registry: DeviceDirectory, poolIds: readonly string[]): void {
  const pools = registryPools(registry)
  const unknown = poolIds.filter((p) => !pools.has(p))
  if (unknown.length > 0)
    throw new ApiError('UNKNOWN_POOL', `unknown pool ${unknown.join(', ')}`, { details: { unknown } })
}
