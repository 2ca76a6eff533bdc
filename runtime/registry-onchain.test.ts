import { zeroHash } from 'viem'
import { describe, expect, it } from 'vitest'
import { RegistryRootMismatchError } from './registry-onchain.ts'

const file = (poolId: string, deviceCount: number) => ({
  poolId,
  root: `0x${'ab'.repeat(32)}` as const,
  deviceCount,
})

describe('RegistryRootMismatchError', () => {
  it('says a pool without a root on-chain is fixed in a file, not by pools apply alone', () => {
    const error = new RegistryRootMismatchError(
      [
        {
          poolId: 'no-such-pool',
          file: file('no-such-pool', 1),
          onChain: { root: zeroHash, version: 0n, deviceCount: 0 },
        },
      ],
      'reg.json',
    )
    expect(error.message).toContain('no-such-pool: no registry root on-chain yet (the file has 1 devices')
    expect(error.message).toContain(
      "no-such-pool: no pools apply ever committed a root for this pool. If it is a typo, correct the devices' poolId in reg.json; if it is a new pool, add it to the pools file (config/pools.json); then run `npm run pools -- apply --file config/pools.json --registry reg.json`",
    )
    expect(error.message).not.toContain('Load the registry file that was committed')
  })

  it('offers the committed file or a commit of this one for a root that differs', () => {
    const error = new RegistryRootMismatchError(
      [
        {
          poolId: 'gcl-pv',
          file: file('gcl-pv', 3),
          onChain: { root: zeroHash, version: 2n, deviceCount: 2 },
        },
      ],
      'reg.json',
    )
    expect(error.message).toContain(
      'gcl-pv: load the registry file that was committed, or commit this one: `npm run pools -- apply --file config/pools.json --registry reg.json`.',
    )
    expect(error.message).not.toContain('no pools apply ever committed')
  })
})
