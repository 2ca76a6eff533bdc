/**
 * Deterministic leaves for the Merkle and distribution benchmarks: a pool epoch of `n` devices
 * (or `n` holders) with values spread over their whole realistic ranges.
 */
import type { Address, Hex } from 'viem'
import type { DeviceLeaf, HolderLeaf } from '../../core/merkle/index.ts'
import { createRng } from '../../core/random/prng.ts'

export function deviceLeaves(n: number, seed = 'bench-merkle'): DeviceLeaf[] {
  const rng = createRng(seed)
  const rand = () => rng.next()
  const leaves: DeviceLeaf[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const energyWh = Math.floor(rand() * 2_000_000)
    leaves[i] = {
      poolId: 'bench-pool',
      epoch: 42,
      deviceId: `${['charger', 'pv', 'swap'][i % 3]}-${String(i).padStart(7, '0')}`,
      energyWh,
      revenueUnits: (BigInt(energyWh) * 2_300_000n) / 1000n,
      readings: 200 + Math.floor(rand() * 200),
      readingsDigest: randomHex(rand, 32),
    }
  }
  return leaves
}

export function holderAccounts(n: number, seed = 'bench-holders'): Address[] {
  const rng = createRng(seed)
  const rand = () => rng.next()
  return Array.from({ length: n }, () => randomHex(rand, 20) as Address)
}

export function holderLeaves(n: number, seed = 'bench-holders'): HolderLeaf[] {
  const rng = createRng(seed, 'amounts')
  const rand = () => rng.next()
  return holderAccounts(n, seed).map((account) => ({
    poolId: 'bench-pool',
    account,
    cumulativeAmount: BigInt(Math.floor(rand() * 1e12)),
  }))
}

function randomHex(rand: () => number, bytes: number): Hex {
  const buf = Buffer.allocUnsafe(bytes)
  for (let i = 0; i < bytes; i += 4) buf.writeUInt32LE(Math.floor(rand() * 4294967296), i)
  return `0x${buf.toString('hex')}`
}
