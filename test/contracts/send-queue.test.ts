/**
 * Sends from one account in several loops at once (the distributor's pools, the dev wallet's
 * tabs) on a real anvil: each send reads the node's pending nonce, so without taking turns two
 * read the same one and the second is refused `nonce too low`; with runtime/chain/send-queue.ts
 * every one is mined, with consecutive nonces, and a refused send does not hold up the next.
 */
import { createPublicClient, createWalletClient, type Hex, http, parseEther } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { submitInTurn } from '../../runtime/chain/send-queue.ts'
import { chainFor } from '../../runtime/clients/chain.ts'
import { type DedicatedAnvil, startDedicatedAnvil } from './support/dedicated-anvil.ts'

let anvil: DedicatedAnvil

beforeAll(async () => {
  anvil = await startDedicatedAnvil('send-queue-test')
})
afterAll(async () => {
  await anvil?.stop()
})

async function fundedWallet() {
  const account = privateKeyToAccount(generatePrivateKey())
  const chain = chainFor(anvil.endpoint)
  const transport = http(anvil.endpoint.rpcUrl)
  const publicClient = createPublicClient({ chain, transport })
  await publicClient.request({
    method: 'anvil_setBalance' as never,
    params: [account.address, `0x${parseEther('10').toString(16)}`] as never,
  })
  return { account, publicClient, wallet: createWalletClient({ account, chain, transport }) }
}

const LOOPS = 6

describe('sends from one account in several loops at once', () => {
  it('collide on the nonce when each reads it alone (the failure the queue is for)', async () => {
    const { account, wallet } = await fundedWallet()
    const outcomes = await Promise.allSettled(
      Array.from({ length: LOOPS }, () => wallet.sendTransaction({ to: account.address, value: 1n })),
    )
    const refused = outcomes.filter((o) => o.status === 'rejected')
    expect(refused.length).toBeGreaterThan(0)
    expect(String((refused[0] as PromiseRejectedResult).reason)).toMatch(/nonce/i)
  })

  it('are all mined, with consecutive nonces, when they take turns; a refused one holds up nothing', async () => {
    const { account, publicClient, wallet } = await fundedWallet()
    const send = (value: bigint) =>
      submitInTurn(account.address, () => wallet.sendTransaction({ to: account.address, value }))
    const outcomes = await Promise.allSettled([
      ...Array.from({ length: LOOPS / 2 }, () => send(1n)),
      // More than the balance: refused by the node before it takes a nonce.
      send(parseEther('1000')),
      ...Array.from({ length: LOOPS / 2 }, () => send(1n)),
    ])
    expect(outcomes.map((o) => o.status)).toEqual([
      ...Array(LOOPS / 2).fill('fulfilled'),
      'rejected',
      ...Array(LOOPS / 2).fill('fulfilled'),
    ])
    const hashes = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value as Hex] : []))
    const receipts = await Promise.all(hashes.map((hash) => publicClient.waitForTransactionReceipt({ hash })))
    expect(receipts.every((r) => r.status === 'success')).toBe(true)
    const nonces = await Promise.all(
      hashes.map(async (hash) => (await publicClient.getTransaction({ hash })).nonce),
    )
    expect(nonces).toEqual(Array.from({ length: LOOPS }, (_, i) => i))
  })
})
