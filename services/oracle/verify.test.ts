import { describe, expect, it } from 'vitest'
import type { DeviceRegistry, RegisteredDevice } from '../../core/identity/registry.ts'
import { ArtifactCorruptError, ArtifactIoError } from '../../runtime/artifact-store.ts'
import type { LeafRules } from './domain/leaf-recompute.ts'
import { type VerifyDeps, verifyDevice } from './verify.ts'

const device = { deviceId: 'pv-0001', poolId: 'gcl-pv' } as RegisteredDevice
const registry: Pick<DeviceRegistry, 'get' | 'devices'> = {
  get: (id) => (id === device.deviceId ? device : undefined),
  devices: () => [device][Symbol.iterator](),
}
/** A chain on which nothing was proposed: a device checked against it is not-final at best. */
const chain: VerifyDeps['chain'] = {
  finalized: async () => undefined,
  epochRecord: async () => ({ status: 'none', attempt: 0, root: `0x${'0'.repeat(64)}`, finalizesAtSec: 0n }),
  pool: async () => ({ firstEpoch: 0, nextEpoch: 0 }),
  verifyDeviceLeaf: async () => false,
}
const deps: VerifyDeps = {
  chain,
  store: { get: async () => undefined },
  registry,
  rules: {} as LeafRules,
}

describe('verifyDevice on a device of another pool (attack F5)', () => {
  it('is UNKNOWN_AUDIT_DEVICE naming the pool the device is in, before the chain is asked', async () => {
    const outcome = await verifyDevice(deps, { poolId: 'gcl-charge', deviceId: 'pv-0001', epoch: 0 })
    expect(outcome).toEqual({
      status: 'unknown-device',
      code: 'UNKNOWN_AUDIT_DEVICE',
      devicePoolId: 'gcl-pv',
      detail: 'device pv-0001 belongs to pool gcl-pv, not gcl-charge',
      ok: false,
    })
  })

  it('is UNKNOWN_AUDIT_DEVICE without a pool for a device the registry does not hold', async () => {
    const outcome = await verifyDevice(deps, { poolId: 'gcl-pv', deviceId: 'pv-nobody', epoch: 0 })
    expect(outcome).toEqual({
      status: 'unknown-device',
      code: 'UNKNOWN_AUDIT_DEVICE',
      detail: 'device pv-nobody is not in the registry',
      ok: false,
    })
  })

  it('checks a device of the pool asked against the chain', async () => {
    const outcome = await verifyDevice(deps, { poolId: 'gcl-pv', deviceId: 'pv-0001', epoch: 0 })
    expect(outcome.status).toBe('not-final')
  })
})

describe('verifyDevice on rules of another epoch grid than the chain holds (attack10a F5)', () => {
  const hour = { genesisMs: Date.parse('2026-06-01T00:00:00+08:00'), epochLengthMs: 3_600_000 }
  const final = {
    ...chain,
    finalized: async () => ({
      root: `0x${'1'.repeat(64)}` as const,
      revenueUnits: 0n,
      energyWh: 0n,
      leafCount: 0,
      treeHash: `0x${'2'.repeat(64)}` as const,
      archiveHash: `0x${'3'.repeat(64)}` as const,
    }),
  }
  const dayRules = {
    settings: { grid: { ...hour, epochLengthMs: 86_400_000, intervalMs: 300_000 } },
  } as LeafRules

  it('is grid-mismatch naming both grids, before any artifact is read', async () => {
    const outcome = await verifyDevice(
      { ...deps, chain: final, rules: dayRules, epochGrid: async () => hour },
      { poolId: 'gcl-pv', deviceId: 'pv-0001', epoch: 1 },
    )
    expect(outcome).toMatchObject({ status: 'grid-mismatch', code: 'EPOCH_GRID_MISMATCH', ok: false })
    expect(outcome.status === 'grid-mismatch' && outcome.detail).toBe(
      'pool gcl-pv maps its epochs on-chain (RevenueDistributor.epochClock()) as epochs of 3600000 ms from 2026-05-31T16:00:00.000Z; the rules verify recomputes leaves under use epochs of 86400000 ms from 2026-05-31T16:00:00.000Z',
    )
  })

  it('goes on to the artifacts when the grids are the same', async () => {
    const outcome = await verifyDevice(
      {
        ...deps,
        chain: final,
        rules: { settings: { grid: { ...hour, intervalMs: 300_000 } } } as LeafRules,
        epochGrid: async () => hour,
      },
      { poolId: 'gcl-pv', deviceId: 'pv-0001', epoch: 1 },
    )
    expect(outcome.status).toBe('artifact-missing')
  })
})

describe('verifyDevice on an artifact store that cannot be read (attack10a F6)', () => {
  const final: VerifyDeps['chain'] = {
    ...chain,
    finalized: async () => ({
      root: `0x${'1'.repeat(64)}` as const,
      revenueUnits: 0n,
      energyWh: 0n,
      leafCount: 0,
      treeHash: `0x${'2'.repeat(64)}` as const,
      archiveHash: `0x${'3'.repeat(64)}` as const,
    }),
  }
  it('throws the store error (not checked), and reports only a hash mismatch as artifact-corrupt', async () => {
    const io = new ArtifactIoError(
      'reading /store/22/2222',
      Object.assign(new Error('EISDIR'), { code: 'EISDIR' }),
    )
    await expect(
      verifyDevice(
        { ...deps, chain: final, store: { get: async () => Promise.reject(io) } },
        { poolId: 'gcl-pv', deviceId: 'pv-0001', epoch: 1 },
      ),
    ).rejects.toBe(io)
    const corrupt = new ArtifactCorruptError(`0x${'2'.repeat(64)}`, `0x${'4'.repeat(64)}`, '/store/22/2222')
    const outcome = await verifyDevice(
      { ...deps, chain: final, store: { get: async () => Promise.reject(corrupt) } },
      { poolId: 'gcl-pv', deviceId: 'pv-0001', epoch: 1 },
    )
    expect(outcome).toMatchObject({ status: 'artifact-corrupt', ok: false })
  })
})
