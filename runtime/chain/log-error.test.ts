import {
  ContractFunctionExecutionError,
  ContractFunctionRevertedError,
  ExecutionRevertedError,
  encodeErrorResult,
  encodeFunctionData,
  getAddress,
  keccak256,
  TransactionExecutionError,
  toHex,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import { revenueDistributorAbi, revenueOracleAbi } from '../../contracts/abi/index.ts'
import { GridrootError } from '../../core/errors/base.ts'
import { errorFields, errorSummary } from './log-error.ts'
import { decodeRevertData } from './revert.ts'

const account = privateKeyToAccount(`0x${'11'.repeat(32)}`)
const distributor = '0x00000000000000000000000000000000000000d1'
const treasury = getAddress('0x00000000000000000000000000000000000000a7')

/** A publish that reverted TreasuryUnderfunded, as viem's simulateContract throws it. */
function revertedPublish() {
  const data = encodeErrorResult({
    abi: revenueDistributorAbi,
    errorName: 'TreasuryUnderfunded',
    args: [treasury, 5_000n, 10n, 20n],
  })
  const reverted = new ContractFunctionRevertedError({
    abi: revenueDistributorAbi,
    data,
    functionName: 'publish',
  })
  return new ContractFunctionExecutionError(reverted, {
    abi: revenueDistributorAbi,
    args: [3n, `0x${'ab'.repeat(32)}`, 5_000n, `0x${'cd'.repeat(32)}`],
    contractAddress: distributor,
    functionName: 'publish',
    sender: account.address,
  })
}

/** A propose transaction with 3 signatures that the node refused at execution, as writeContract throws it. */
function failedPropose() {
  const calldata = encodeFunctionData({
    abi: revenueOracleAbi,
    functionName: 'propose',
    args: [
      {
        poolId: `0x${'01'.repeat(32)}`,
        epoch: 7n,
        root: `0x${'02'.repeat(32)}`,
        revenueUnits: 1n,
        energyWh: 2n,
        leafCount: 3,
        treeHash: `0x${'03'.repeat(32)}`,
        archiveHash: `0x${'04'.repeat(32)}`,
      },
      `0x${'ee'.repeat(65 * 3)}`,
    ],
  })
  const revertData = encodeErrorResult({
    abi: revenueOracleAbi,
    errorName: 'AlreadyPending',
    args: [`0x${'01'.repeat(32)}`, 7n],
  })
  const cause = new ExecutionRevertedError({
    cause: Object.assign(new Error('execution reverted'), { data: revertData }) as never,
  })
  return {
    calldata,
    error: new TransactionExecutionError(cause, {
      account,
      chain: undefined,
      data: calldata,
      gas: 300_000n,
      to: '0x00000000000000000000000000000000000000c1',
    }),
  }
}

describe('errorFields', () => {
  it('keeps a revert as its decoded error and arguments, without the ABI, calldata or arguments dump', () => {
    const error = revertedPublish()
    expect(error.message.length).toBeGreaterThan(500)
    const f = errorFields(error)
    expect(f.name).toBe('ContractFunctionExecutionError')
    expect(f.revert).toEqual({
      errorName: 'TreasuryUnderfunded',
      args: { treasury, needed: '5000', balance: '10', allowance: '20' },
    })
    const text = JSON.stringify(f)
    expect(text.length).toBeLessThan(1_000)
    expect(text).not.toContain('ab'.repeat(32))
    expect(text).not.toContain('"inputs"')
    expect(text).not.toContain('Contract Call')
  })

  it('bounds a TransactionExecutionError of a large calldata to a few hundred characters', () => {
    const { calldata, error } = failedPropose()
    expect(error.message).toContain(calldata)
    const f = errorFields(error)
    expect(f.name).toBe('TransactionExecutionError')
    expect(f.revert?.errorName).toBe('AlreadyPending')
    const text = JSON.stringify(f)
    expect(text.length).toBeLessThan(1_000)
    expect(text).not.toContain(calldata.slice(10, 80))
    expect(text).not.toContain('Request Arguments')
  })

  it('follows a gridroot error to the viem error it wraps, and caps long texts', () => {
    const wrapped = new GridrootError('CHAIN_TX_FAILED', 'publish reverted', { cause: revertedPublish() })
    const f = errorFields(wrapped)
    expect(f.code).toBe('CHAIN_TX_FAILED')
    expect(f.cause?.revert?.errorName).toBe('TreasuryUnderfunded')
    const long = errorFields(new Error('x'.repeat(10_000)))
    expect(long.shortMessage.length).toBeLessThan(400)
    expect(long.frames).toContain('at ')
    expect(JSON.stringify(long).length).toBeLessThan(2_500)
    expect(errorFields('plain string').shortMessage).toBe('plain string')
  })
})

describe('errorSummary', () => {
  it('is one bounded line naming the revert, for a health body', () => {
    const line = errorSummary(
      new GridrootError('CHAIN_TX_FAILED', 'publish reverted', { cause: revertedPublish() }),
    )
    expect(line).toContain('[CHAIN_TX_FAILED]: publish reverted')
    expect(line).toContain('TreasuryUnderfunded(treasury=')
    expect(line).not.toContain('\n')
    expect(String(failedPropose().error).length).toBeGreaterThan(1_000)
    expect(errorSummary(failedPropose().error).length).toBeLessThan(400)
  })
})

describe('decodeRevertData', () => {
  it('names OpenZeppelin 5 errors and roles, also from a contract whose ABI is not gridroot', () => {
    const role = keccak256(toHex('PUBLISHER_ROLE'))
    const missingRole = encodeErrorResult({
      abi: [
        {
          type: 'error',
          name: 'AccessControlUnauthorizedAccount',
          inputs: [
            { name: 'account', type: 'address' },
            { name: 'neededRole', type: 'bytes32' },
          ],
        },
      ],
      errorName: 'AccessControlUnauthorizedAccount',
      args: [treasury, role],
    })
    expect(decodeRevertData(missingRole)).toEqual({
      errorName: 'AccessControlUnauthorizedAccount',
      args: { account: treasury, neededRole: 'PUBLISHER_ROLE' },
    })
    const spender = encodeErrorResult({
      abi: [{ type: 'error', name: 'ERC20InvalidSpender', inputs: [{ name: 'spender', type: 'address' }] }],
      errorName: 'ERC20InvalidSpender',
      args: [treasury],
    })
    expect(decodeRevertData(spender)).toEqual({
      errorName: 'ERC20InvalidSpender',
      args: { spender: treasury },
    })
    expect(decodeRevertData('0xdeadbeef')).toBeUndefined()
  })
})
