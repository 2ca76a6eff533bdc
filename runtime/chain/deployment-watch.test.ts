import { describe, expect, it } from 'vitest'
import { judgeDeployment, problemChanged } from './deployment-watch.ts'

const start = { chainId: 31337, genesisHash: `0x${'a'.repeat(64)}` as const }
const now = { ...start, headBlock: 12n, missing: [] as string[] }

describe('judgeDeployment', () => {
  it('finds nothing wrong on the chain it started on, with its contracts', () => {
    expect(judgeDeployment(start, now, 'contracts.json')).toBeUndefined()
  })

  it('is CHAIN_RESET when block 0 changed, naming both hashes and the redeploy, even with the code back', () => {
    const problem = judgeDeployment(start, { ...now, genesisHash: `0x${'b'.repeat(64)}` }, 'contracts.json')
    expect(problem?.code).toBe('CHAIN_RESET')
    expect(problem?.message).toContain(`was 0x${'a'.repeat(64)} at start and is 0x${'b'.repeat(64)} now`)
    expect(problem?.hint).toMatch(/npm run deploy, then npm run pools -- apply .* restart this service/)
  })

  it('is CHAIN_RESET when the node answers another chain id', () => {
    expect(judgeDeployment(start, { ...now, chainId: 1 }, 'contracts.json')?.message).toMatch(
      /now answers chain id 1, not 31337/,
    )
  })

  it('is CONTRACTS_MISSING naming each contract without code, the head block and the file', () => {
    const problem = judgeDeployment(
      start,
      { ...now, headBlock: 0n, missing: ['RevenueOracle 0xe7f1'] },
      '/x/contracts.json',
    )
    expect(problem?.code).toBe('CONTRACTS_MISSING')
    expect(problem?.message).toBe(
      'no contract at RevenueOracle 0xe7f1 on chain 31337 (head block 0): the chain was reset, or the contracts file /x/contracts.json is for another chain',
    )
    expect(problem?.hint).toMatch(/GRIDROOT_CONTRACTS_FILE/)
  })

  it('is the same problem while the same contracts are missing, whatever the head block (F4: logged at every check)', () => {
    const at = (headBlock: bigint, missing: string[]) =>
      judgeDeployment(start, { ...now, headBlock, missing }, 'contracts.json')
    const first = at(3n, ['RevenueOracle 0xe7f1'])
    expect(first?.contracts).toEqual(['RevenueOracle 0xe7f1'])
    expect(problemChanged(first, at(9n, ['RevenueOracle 0xe7f1']))).toBe(false)
    expect(problemChanged(first, at(9n, ['RevenueOracle 0xe7f1', 'IdentityRegistry 0x5fbd']))).toBe(true)
    expect(problemChanged(first, undefined)).toBe(true)
    expect(problemChanged(undefined, first)).toBe(true)
    expect(problemChanged(undefined, undefined)).toBe(false)
    const reset = judgeDeployment(start, { ...now, chainId: 1 }, 'contracts.json')
    expect(problemChanged(first, reset)).toBe(true)
  })
})
