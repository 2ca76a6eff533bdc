import { describe, expect, it } from 'vitest'
import type { DeviceRegistry, RegisteredDevice } from '../../core/identity/registry.ts'
import type { LeafRules } from './domain/leaf-recompute.ts'
import { type VerifyDeps, verifyDevice } from './verify.ts'

const device = { deviceId: 'pv-0001', poolId: 'gcl-pv' } as RegisteredDevice
const registry: Pick<DeviceRegistry, 'get'> = { get: (id) => (id === device.deviceId ? device : undefined) }
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
