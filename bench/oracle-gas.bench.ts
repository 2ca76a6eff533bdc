/**
 * `npm run bench:oracle-gas`: gas of RevenueOracle's propose (2-of-3 EIP-712 signatures) and
 * finalize on anvil for pools of 10 and 100,000 devices, against PlainEpochRoots (an owner
 * writing one root per pool epoch: no signatures, no window, no totals) measured on the same
 * chain in the same run. The device tree is built over real device leaves; the gas does not
 * depend on its size (two stored words per proposal). Results: `oracle-propose-gas`,
 * `oracle-finalize-gas` (params.devices).
 */
import { keccak256, toHex } from 'viem'
import { plainEpochRootsAbi } from '../contracts/abi/index.ts'
import { deployContract } from '../contracts/deploy/deploy-contract.ts'
import { startDedicatedAnvil } from '../test/contracts/support/dedicated-anvil.ts'
import { buildTree } from '../test/contracts/support/fast-tree.ts'
import {
  addPool,
  finalize,
  mined,
  passWindow,
  proposal,
  propose,
  signProposal,
} from '../test/contracts/support/oracle.ts'
import { deploySystem, poolIdHex } from '../test/contracts/support/system.ts'
import { type BenchResult, benchResult, formatResults, median } from './support/results.ts'
import { writeResults } from './support/write-gas-results.ts'

const DEVICE_COUNTS = (process.env.GRIDROOT_BENCH_DEVICES ?? '10,100000').split(',').map(Number)
const EPOCHS = 3
const DEVICE_LEAF_TYPES = [
  { type: 'bytes32' },
  { type: 'uint64' },
  { type: 'string' },
  { type: 'uint256' },
  { type: 'uint256' },
  { type: 'uint32' },
  { type: 'bytes32' },
] as const

async function main(): Promise<void> {
  const anvil = await startDedicatedAnvil('oracle-gas')
  const propose_: BenchResult[] = []
  const finalize_: BenchResult[] = []
  try {
    const system = await deploySystem(anvil.endpoint, { threshold: 2, challengeWindowSec: 60 })
    const plain = await deployContract(system.deployer, system.compiled, 'PlainEpochRoots', [])
    for (const devices of DEVICE_COUNTS) {
      const pool = `oracle-gas-${devices}`
      const poolId = poolIdHex(pool)
      await addPool(system, poolId)
      const proposeGas: number[] = []
      const finalizeGas: number[] = []
      const baselineGas: number[] = []
      for (let epoch = 0n; epoch < BigInt(EPOCHS); epoch++) {
        const leaves = Array.from({ length: devices }, (_, i) => {
          const energyWh = 1_000n + BigInt(i % 500)
          return [
            poolId,
            epoch,
            `chg-${i}`,
            energyWh,
            energyWh * 2_300n,
            12,
            keccak256(toHex(`${pool}/${epoch}/${i}`)),
          ]
        })
        const tree = buildTree(leaves, DEVICE_LEAF_TYPES)
        const p = proposal({
          poolId,
          epoch,
          root: tree.root,
          leafCount: devices,
          revenueUnits: leaves.reduce((s, l) => s + (l[4] as bigint), 0n),
          energyWh: leaves.reduce((s, l) => s + (l[3] as bigint), 0n),
        })
        const signatures = await signProposal(system, system.signers.slice(0, 2), p)
        proposeGas.push(Number((await propose(system, p, signatures)).gasUsed))
        await passWindow(system)
        finalizeGas.push(Number((await finalize(system, poolId, epoch)).gasUsed))
        const hash = await system.deployer.walletClient.writeContract({
          address: plain.address,
          abi: plainEpochRootsAbi,
          functionName: 'setRoot',
          args: [poolId, epoch, tree.root],
        })
        baselineGas.push(Number((await mined(system, hash)).gasUsed))
        console.error(
          `[oracle-gas] ${devices} devices, epoch ${epoch}: propose ${proposeGas.at(-1)}, finalize ${finalizeGas.at(-1)}, plain ${baselineGas.at(-1)}`,
        )
      }
      const params = { devices, epochs: EPOCHS, proposeGas, finalizeGas, baselineGas, signatures: '2-of-3' }
      propose_.push(
        benchResult({
          name: 'oracle-propose-gas',
          subject: 'RevenueOracle.propose, 2-of-3 EIP-712 signatures (median of epochs)',
          baseline: 'PlainEpochRoots.setRoot (owner writes a root)',
          unit: 'gas',
          value: median(proposeGas),
          baselineValue: median(baselineGas),
          params: { ...params, target: 150_000 },
        }),
      )
      finalize_.push(
        benchResult({
          name: 'oracle-finalize-gas',
          subject: 'RevenueOracle.finalize after the challenge window (median of epochs)',
          baseline: 'PlainEpochRoots.setRoot (owner writes a root)',
          unit: 'gas',
          value: median(finalizeGas),
          baselineValue: median(baselineGas),
          params: { ...params, target: 60_000 },
        }),
      )
    }
  } finally {
    await anvil.stop()
  }
  writeResults(propose_)
  writeResults(finalize_)
  console.log(formatResults([...propose_, ...finalize_]))
}

await main()
