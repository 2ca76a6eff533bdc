/**
 * Pools of the pools file that no device of the registry names. Such a pool is still applied
 * (a pool may be created before its devices are registered), but its registry root is the empty
 * tree (0x00…00, count 0): the oracle's epochs for it get empty roots, revenue 0, and its
 * holders earn nothing until devices are registered and `npm run pools -- apply` runs again.
 * The command warns for each, so an operator does not take a typo'd poolId for a working pool.
 */
import type { DeviceRecord } from '../../core/identity/registry.ts'
import type { PoolConfig } from './pools-config.ts'

/** One warning per pool without devices, naming the pool, both files and what follows. */
export function emptyPoolWarnings(
  pools: readonly PoolConfig[],
  devices: readonly DeviceRecord[],
  files: { readonly pools: string; readonly registry: string },
): string[] {
  const named = new Set(devices.map((d) => d.poolId))
  return pools.flatMap((pool, index) =>
    named.has(pool.poolId)
      ? []
      : [
          `pool ${pool.poolId} (${files.pools} pools[${index}]) has no devices in ${files.registry}: it is applied all the same, but it will earn nothing: its registry root is the empty tree and every epoch the oracle closes for it gets an empty root (no leaves, revenue 0). Register its devices (poolId "${pool.poolId}") and run npm run pools -- apply again; check the poolId for a typo`,
        ],
  )
}
