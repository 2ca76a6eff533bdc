/**
 * Attack: a poisoned oracle.signatures.v1 topic. Anyone who can write to the topic can take an
 * honest signer's signature and republish it in its malleable high-s form ((r, n - s), v flipped).
 * It recovers to the same signer off-chain, so the submitter's book replaced the honest
 * signature with it; the contract's ECDSA.tryRecover refuses high-s (InvalidSignature), so every
 * propose reverted and the epoch stalled. The recoverer must refuse high-s like the contract does.
 */
import { type Hex, hexToBigInt, numberToHex, recoverTypedDataAddress, slice } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import { epochRootTypedData } from '../../core/chain/epoch-root-typed-data.ts'
import { signatureRecoverer, toContractProposal } from '../../services/oracle/adapters/chain.ts'
import type { Proposal } from '../../services/oracle/domain/proposal.ts'

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const key: Hex = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'
const oracle = '0x5FbDB2315678afecb367f032d93F642f64180aa3'
const proposal: Proposal = {
  poolId: 'pool-attack',
  epoch: 3,
  attempt: 0,
  root: `0x${'11'.repeat(32)}`,
  revenueUnits: 1_000_000n,
  energyWh: 5_000n,
  leafCount: 2,
  treeHash: `0x${'22'.repeat(32)}`,
  archiveHash: `0x${'33'.repeat(32)}`,
}

function highS(signature: Hex): Hex {
  const r = slice(signature, 0, 32)
  const s = hexToBigInt(slice(signature, 32, 64))
  const v = hexToBigInt(slice(signature, 64, 65))
  return `${r}${numberToHex(N - s, { size: 32 }).slice(2)}${numberToHex(v === 27n ? 28 : 27, { size: 1 }).slice(2)}` as Hex
}

describe('attack: high-s signatures on the signatures topic', () => {
  it('the malleated signature recovers to the honest signer, and the submitter refuses it', async () => {
    const signer = privateKeyToAccount(key)
    const typed = epochRootTypedData({
      chainId: 31337,
      oracle,
      proposal: toContractProposal(proposal),
      attempt: proposal.attempt,
    })
    const honest = await signer.signTypedData(typed)
    const forged = highS(honest)
    expect(forged).not.toBe(honest)
    // The break: off-chain recovery accepts it as the signer's.
    expect((await recoverTypedDataAddress({ ...typed, signature: forged })).toLowerCase()).toBe(
      signer.address.toLowerCase(),
    )
    const recover = signatureRecoverer(31337, oracle)
    expect(await recover(proposal, honest)).toBe(signer.address.toLowerCase())
    await expect(recover(proposal, forged)).rejects.toThrow(/high-s|malleable/i)
  })
})
