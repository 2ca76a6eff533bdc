/**
 * `npm run bench:distribute`: one distribution round of a pool epoch for 1k, 10k and 100k
 * holders: the entitlement (time-weighted balances from Transfer logs: a mint to every holder
 * before the epoch, transfers among them during it, the treasury excluded), the cumulative
 * amounts after a previous epoch, the holder tree and every holder's proof (core/entitlement +
 * core/merkle). Baseline in the same run: the same entitlement, then OpenZeppelin's
 * StandardMerkleTree.of and getProof for every holder. Target: 100k holders in at most 10 s.
 *
 * Result `distribute-allocation` (seconds, params.holders). Settings:
 * GRIDROOT_BENCH_DISTRIBUTE_HOLDERS (comma list), GRIDROOT_BENCH_DISTRIBUTE_BASELINE_MAX
 * (default 100000), GRIDROOT_BENCH_RUNS (runs of the subject, median).
 */
import { StandardMerkleTree } from '@openzeppelin/merkle-tree'
import { z } from 'zod'
import {
  accumulate,
  balanceChangesFromTransfers,
  computeEpochEntitlement,
  type EpochEntitlement,
  type TokenTransfer,
  ZERO_ADDRESS,
} from '../core/entitlement/index.ts'
import {
  buildHolderTree,
  HOLDER_LEAF_ENCODING,
  type HolderLeaf,
  holderLeafHash,
  holderLeafLayout,
  proofAt,
  verifyProof,
} from '../core/merkle/index.ts'
import { createRng } from '../core/random/prng.ts'
import { parseConfig } from '../runtime/config.ts'
import { loadAverage1m, type Timing, timeIt } from './support/cpu-timer.ts'
import { holderAccounts } from './support/merkle-fixtures.ts'
import { progress, runBench } from './support/progress.ts'
import { writeResultArray } from './support/result-array.ts'
import { type BenchResult, benchResult, median } from './support/results.ts'

const Settings = z.object({
  GRIDROOT_BENCH_DISTRIBUTE_HOLDERS: z
    .string()
    .default('1000,10000,100000')
    .transform((s) => s.split(',').map(Number))
    .pipe(z.array(z.number().int().positive())),
  GRIDROOT_BENCH_DISTRIBUTE_BASELINE_MAX: z.coerce.number().int().positive().default(100_000),
  GRIDROOT_BENCH_RUNS: z.coerce.number().int().positive().default(3),
})

const POOL = 'bench-pool'
const WINDOW = { startS: 1_800_000_000, endS: 1_800_086_400 }
const TREASURY = '0x00000000000000000000000000000000000000ee'

/** Mints to every holder (and the treasury) before the window, then n/2 transfers inside it. */
function tokenHistory(n: number) {
  const rng = createRng('bench-distribute', n)
  const accounts = holderAccounts(n).map((a) => a.toLowerCase())
  const balances = new Map<string, bigint>()
  const transfers: TokenTransfer[] = []
  let block = 1n
  for (const [i, to] of [...accounts, TREASURY].entries()) {
    const value = BigInt(rng.int(1, 1_000_000)) * 10n ** 18n
    balances.set(to, value)
    transfers.push({
      from: ZERO_ADDRESS,
      to,
      value,
      blockNumber: block,
      logIndex: i,
      timestampS: WINDOW.startS - 100,
    })
  }
  for (let i = 0; i < n / 2; i++) {
    block++
    const from = rng.pick(accounts)
    const to = rng.pick(accounts)
    const value = (balances.get(from)! * BigInt(rng.int(0, 100))) / 100n
    balances.set(from, balances.get(from)! - value)
    balances.set(to, balances.get(to)! + value)
    const timestampS = WINDOW.startS + Math.floor((i * 86_400) / (n / 2))
    transfers.push({ from, to, value, blockNumber: block, logIndex: 0, timestampS })
  }
  const previous = new Map(accounts.map((a) => [a, BigInt(rng.int(0, 5_000_000_000))]))
  return { transfers, previous }
}

function entitlementRound(history: ReturnType<typeof tokenHistory>): {
  e: EpochEntitlement
  leaves: HolderLeaf[]
} {
  const e = computeEpochEntitlement({
    poolId: POOL,
    epoch: 7,
    revenueUnits: 987_654_321_000n,
    terms: { holdersShareBps: 7_000 },
    window: WINDOW,
    changes: balanceChangesFromTransfers(history.transfers),
    exclusion: (a) => (a === TREASURY ? 'treasury' : undefined),
  })
  const cumulative = accumulate(history.previous, e)
  const leaves: HolderLeaf[] = []
  for (const [account, cumulativeAmount] of cumulative)
    if (cumulativeAmount > 0n)
      leaves.push({ poolId: POOL, account: account as `0x${string}`, cumulativeAmount })
  if (e.distributedUnits + e.withheldUnits + e.unallocatedUnits !== e.distributableUnits)
    throw new Error('the allocation does not sum to the distributable')
  return { e, leaves }
}

const fmt = (t: Timing | undefined) =>
  t ? `${t.wallS.toFixed(3)} s (cpu ${t.cpuS.toFixed(3)} s)` : 'not run'

async function main(): Promise<void> {
  const settings = parseConfig(Settings, process.env, 'distribute benchmark')
  const results: BenchResult[] = []
  for (const n of settings.GRIDROOT_BENCH_DISTRIBUTE_HOLDERS) {
    progress(`${n} holders: generating the token history`)
    const history = tokenHistory(n)
    const loadBefore = loadAverage1m()
    const runs: Timing[] = []
    const parts: { entitlementS: number; treeAndProofsS: number }[] = []
    let root = ''
    for (let r = 0; r < settings.GRIDROOT_BENCH_RUNS; r++) {
      let entitlementS = 0
      const { result, timing } = await timeIt(() => {
        const t0 = performance.now()
        const { leaves } = entitlementRound(history)
        entitlementS = (performance.now() - t0) / 1000
        const tree = buildHolderTree(leaves)
        return { tree, proofs: tree.proofs() }
      })
      runs.push(timing)
      parts.push({ entitlementS, treeAndProofsS: timing.wallS - entitlementS })
      root = result.tree.root
      const { tree, proofs } = result
      for (let i = 0; i < tree.leafCount; i += Math.max(1, Math.floor(tree.leafCount / 50)))
        if (!verifyProof(tree.root, holderLeafHash(tree.leaves[i]!), proofAt(tree, proofs, i)))
          throw new Error(`holder proof ${i} does not verify`)
      progress(`  core: ${fmt(timing)} (entitlement ${entitlementS.toFixed(3)} s)`)
    }
    let baseline: Timing | undefined
    if (n <= settings.GRIDROOT_BENCH_DISTRIBUTE_BASELINE_MAX) {
      progress(`${n} holders: entitlement + StandardMerkleTree`)
      const { result, timing } = await timeIt(() => {
        const { leaves } = entitlementRound(history)
        const values = leaves.map((l) => holderLeafLayout.toValues(l) as string[])
        const tree = StandardMerkleTree.of(values, [...HOLDER_LEAF_ENCODING])
        for (let i = 0; i < values.length; i++) tree.getProof(i)
        return tree.root
      })
      baseline = timing
      if (result !== root) throw new Error(`roots differ: ${result} vs ${root}`)
      progress(`  baseline: ${fmt(timing)}`)
    }
    const value = median(runs.map((t) => t.wallS))
    results.push(
      benchResult({
        name: 'distribute-allocation',
        subject: 'computeEpochEntitlement + accumulate + buildHolderTree + proofs() (every holder)',
        baseline: 'the same entitlement + StandardMerkleTree.of + getProof(i) for every holder',
        unit: 's',
        value,
        baselineValue: baseline?.wallS ?? Number.NaN,
        params: {
          holders: n,
          transfersInEpoch: n / 2,
          cpuS: median(runs.map((t) => t.cpuS)),
          runs,
          parts,
          baselineTiming: baseline ?? null,
          speedup: (baseline?.wallS ?? Number.NaN) / value,
          root,
          loadAverage1m: [loadBefore, loadAverage1m()],
          target: n === 100_000 ? '≤ 10 s' : null,
        },
      }),
    )
  }
  const file = writeResultArray('distribute-allocation', results)
  console.log(
    [
      'figure                 holders   core s (cpu)          entitlement s   baseline s   ratio    speed-up',
      ...results.map((r) => {
        const p = r.params as { holders: number; cpuS: number; parts: { entitlementS: number }[] }
        return `distribute-allocation  ${String(p.holders).padEnd(8)}  ${r.value.toFixed(3).padStart(7)} (${p.cpuS.toFixed(3)})     ${median(
          p.parts.map((x) => x.entitlementS),
        )
          .toFixed(3)
          .padStart(
            9,
          )}     ${Number.isFinite(r.baselineValue) ? r.baselineValue.toFixed(3).padStart(9) : '  not run'}   ${Number.isFinite(r.ratio) ? r.ratio.toFixed(4) : '   —  '}   ${Number.isFinite(r.ratio) ? `${(1 / r.ratio).toFixed(1)}×` : ''}`
      }),
    ].join('\n'),
  )
  progress(`results in ${file}`)
}

runBench(main, 60 * 60_000)
