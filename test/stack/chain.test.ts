import { createTestClient, http } from 'viem'
import { describe, expect, inject, it } from 'vitest'
import { ANVIL_CHAIN_ID, createChainClients } from '../../runtime/clients/chain.ts'

const endpoints = inject('endpoints')

describe('anvil (real node through runtime/clients/chain)', () => {
  it('reads the chain id, the block number and the latest block', async () => {
    const { publicClient, chain } = createChainClients(endpoints.chain)
    expect(chain.id).toBe(ANVIL_CHAIN_ID)
    expect(await publicClient.getChainId()).toBe(ANVIL_CHAIN_ID)
    const blockNumber = await publicClient.getBlockNumber({ cacheTime: 0 })
    const block = await publicClient.getBlock({ blockNumber })
    expect(block.number).toBe(blockNumber)
    expect(block.hash).toMatch(/^0x[0-9a-f]{64}$/)
  })

  it('mines a block on request and the new block links to the previous one', async () => {
    const { publicClient, chain } = createChainClients(endpoints.chain)
    const testClient = createTestClient({ chain, mode: 'anvil', transport: http(endpoints.chain.rpcUrl) })
    const before = await publicClient.getBlock({ blockTag: 'latest' })
    await testClient.mine({ blocks: 1 })
    const after = await publicClient.getBlock({ blockTag: 'latest' })
    expect(after.number).toBe(before.number + 1n)
    expect(after.parentHash).toBe(before.hash)
  })
})
