/**
 * `npm run bench:merkle`: a pool epoch's device tree plus every leaf's proof, for 10k, 100k and
 * 1M leaves (core/merkle: direct ABI encoding, WebAssembly keccak, flat proofs), against
 * OpenZeppelin's StandardMerkleTree (`of` plus `getProof` for every leaf) in the same run, and
 * merkletreejs used the straightforward way (leaf hashes with viem, `new MerkleTree(hashes,
 * keccak256, { sortPairs: true })`, `getHexProof` per leaf), at the sizes they finish in
 * reasonable time. Separately: writing the published tree (StandardMerkleTree dump) to a file and
 * reloading it with full verification, against JSON.stringify(dump) and StandardMerkleTree.load.
 *
 * Results: `merkle` (seconds for tree plus every proof, ratio against StandardMerkleTree,
 * params.leaves) and `merkle-dump` (seconds to write and reload). Settings:
 * GRIDROOT_BENCH_MERKLE_LEAVES (comma list), GRIDROOT_BENCH_MERKLE_BASELINE_MAX (largest size
 * the baselines run at, default 100000), GRIDROOT_BENCH_RUNS (runs of the subject, median).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { StandardMerkleTree } from '@openzeppelin/merkle-tree'
import { MerkleTree as MerkleTreeJs } from 'merkletreejs'
import { encodeAbiParameters, keccak256 } from 'viem'
import { z } from 'zod'
import {
  buildDeviceTree,
  bytesToHex,
  DEVICE_LEAF_ENCODING,
  type DeviceLeaf,
  deviceLeafHash,
  deviceLeafLayout,
  parseTreeDump,
  poolIdToBytes32,
  proofAt,
  serializeTree,
  verifyProof,
} from '../core/merkle/index.ts'
import { parseConfig } from '../runtime/config.ts'
import { loadAverage1m, type Timing, timeIt } from './support/cpu-timer.ts'
import { deviceLeaves } from './support/merkle-fixtures.ts'
import { progress, runBench } from './support/progress.ts'
import { writeResultArray } from './support/result-array.ts'
import { type BenchResult, benchResult, median } from './support/results.ts'

const Settings = z.object({
  GRIDROOT_BENCH_MERKLE_LEAVES: z
    .string()
    .default('10000,100000,1000000')
    .transform((s) => s.split(',').map(Number))
    .pipe(z.array(z.number().int().positive())),
  GRIDROOT_BENCH_MERKLE_BASELINE_MAX: z.coerce.number().int().positive().default(100_000),
  GRIDROOT_BENCH_RUNS: z.coerce.number().int().positive().default(3),
})

const ABI_PARAMS = DEVICE_LEAF_ENCODING.map((type) => ({ type }))

const fmt = (t: Timing | undefined) =>
  t ? `${t.wallS.toFixed(3)} s (cpu ${t.cpuS.toFixed(3)} s)` : 'not run'

/** The subject: tree plus every proof; checks a sample of proofs and returns the root. */
async function subject(leaves: readonly DeviceLeaf[], runs: number) {
  const timings: Timing[] = []
  let root = ''
  for (let r = 0; r < runs; r++) {
    const { result, timing } = await timeIt(() => {
      const tree = buildDeviceTree(leaves)
      // Every leaf's proof: its sibling slots in the flat node buffer, enumerated for every leaf.
      const proofs = tree.proofs()
      const slots = new Uint32Array(32)
      let proofNodes = 0
      for (let rank = 0; rank < tree.leafCount; rank++) proofNodes += proofs.slots(rank, slots)
      return { tree, proofs, proofNodes }
    })
    timings.push(timing)
    const { tree, proofs } = result
    root = tree.root
    for (let i = 0; i < tree.leafCount; i += Math.max(1, Math.floor(tree.leafCount / 50))) {
      if (!verifyProof(root as `0x${string}`, deviceLeafHash(tree.leaves[i]!), proofAt(tree, proofs, i)))
        throw new Error(`proof ${i} does not verify`)
    }
    progress(`  core/merkle run ${r + 1}: ${fmt(timing)}, ${result.proofNodes} proof nodes`)
  }
  return {
    root,
    timing: { wallS: median(timings.map((t) => t.wallS)), cpuS: median(timings.map((t) => t.cpuS)) },
    runs: timings,
  }
}

async function openZeppelin(values: string[][]) {
  return timeIt(() => {
    const tree = StandardMerkleTree.of(values, [...DEVICE_LEAF_ENCODING])
    let nodes = 0
    for (let i = 0; i < values.length; i++) nodes += tree.getProof(i).length
    return { tree, nodes }
  })
}

async function merkletreejs(leaves: readonly DeviceLeaf[]) {
  return timeIt(() => {
    const hashes = leaves.map((l) =>
      keccak256(
        keccak256(
          encodeAbiParameters(ABI_PARAMS, [
            poolIdToBytes32(l.poolId),
            BigInt(l.epoch),
            l.deviceId,
            BigInt(l.energyWh),
            l.revenueUnits,
            l.readings,
            l.readingsDigest,
          ]),
        ),
        'bytes',
      ),
    )
    const tree = new MerkleTreeJs(hashes, (data: Uint8Array) => keccak256(data, 'bytes'), { sortPairs: true })
    const proofs = hashes.map((h, i) => tree.getHexProof(Buffer.from(h), i))
    return { tree, hashes, proofs }
  })
}

async function main(): Promise<void> {
  const settings = parseConfig(Settings, process.env, 'merkle benchmark')
  const results: BenchResult[] = []
  const dumps: BenchResult[] = []
  const file = join(tmpdir(), `gridroot-bench-merkle-${process.pid}.json`)
  for (const n of settings.GRIDROOT_BENCH_MERKLE_LEAVES) {
    progress(`${n} leaves: generating`)
    const leaves = deviceLeaves(n)
    const loadBefore = loadAverage1m()
    const ours = await subject(leaves, settings.GRIDROOT_BENCH_RUNS)
    const withBaselines = n <= settings.GRIDROOT_BENCH_MERKLE_BASELINE_MAX
    let oz: Awaited<ReturnType<typeof openZeppelin>> | undefined
    let mtj: Awaited<ReturnType<typeof merkletreejs>> | undefined
    const values = withBaselines ? leaves.map((l) => deviceLeafLayout.toValues(l) as string[]) : []
    if (withBaselines) {
      progress(`${n} leaves: StandardMerkleTree`)
      oz = await openZeppelin(values)
      progress(`  StandardMerkleTree: ${fmt(oz.timing)}`)
      if (oz.result.tree.root !== ours.root)
        throw new Error(`roots differ: ${oz.result.tree.root} vs ${ours.root}`)
      progress(`${n} leaves: merkletreejs`)
      mtj = await merkletreejs(leaves)
      progress(`  merkletreejs: ${fmt(mtj.timing)}`)
      const { tree, hashes, proofs } = mtj.result
      const mtjRoot = tree.getHexRoot() as `0x${string}`
      // merkletreejs pairs level by level and promotes an odd node: another tree shape than
      // OpenZeppelin's, so another root, but its sorted-pair proofs verify like MerkleProof's.
      for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 20)))
        if (!verifyProof(mtjRoot, bytesToHex(hashes[i]!), proofs[i] as `0x${string}`[]))
          throw new Error(`merkletreejs proof ${i} does not verify`)
      ;(mtj as { sameRoot?: boolean }).sameRoot = mtjRoot === ours.root
    }
    const ozS = oz?.timing.wallS ?? Number.NaN
    results.push(
      benchResult({
        name: 'merkle',
        subject: 'core/merkle buildDeviceTree + proofs() (every leaf)',
        baseline: 'StandardMerkleTree.of + getProof(i) for every leaf',
        unit: 's',
        value: ours.timing.wallS,
        baselineValue: ozS,
        params: {
          leaves: n,
          cpuS: ours.timing.cpuS,
          runs: ours.runs,
          speedupVsStandardMerkleTree: ozS / ours.timing.wallS,
          speedupVsStandardMerkleTreeCpu: (oz?.timing.cpuS ?? Number.NaN) / ours.timing.cpuS,
          standardMerkleTree: oz?.timing ?? null,
          merkletreejs: mtj
            ? { ...mtj.timing, sameRootAsStandardMerkleTree: (mtj as { sameRoot?: boolean }).sameRoot }
            : null,
          speedupVsMerkletreejs: (mtj?.timing.wallS ?? Number.NaN) / ours.timing.wallS,
          root: ours.root,
          loadAverage1m: [loadBefore, loadAverage1m()],
          target: n === 1_000_000 ? '≤ 5 s' : n === 100_000 ? '≥ 30× faster than StandardMerkleTree' : null,
        },
      }),
    )

    progress(`${n} leaves: writing and reloading the published tree`)
    const tree = buildDeviceTree(leaves)
    const write = await timeIt(() => {
      const bytes = serializeTree(tree)
      writeFileSync(file, bytes)
      return bytes.length
    })
    const reload = await timeIt(() => parseTreeDump(deviceLeafLayout, readFileSync(file)))
    if (reload.result.root !== tree.root) throw new Error('the reloaded tree has another root')
    progress(`  write ${fmt(write.timing)}, reload (verified) ${fmt(reload.timing)}, ${write.result} bytes`)
    let ozWrite: Timing | undefined
    let ozLoad: Timing | undefined
    if (oz) {
      const ozTree = oz.result.tree
      ozWrite = (
        await timeIt(() => {
          writeFileSync(file, JSON.stringify(ozTree.dump()))
        })
      ).timing
      const loaded = await timeIt(() => StandardMerkleTree.load(JSON.parse(readFileSync(file, 'utf8'))))
      ozLoad = loaded.timing
      if (loaded.result.root !== tree.root) throw new Error('StandardMerkleTree.load gave another root')
      // and StandardMerkleTree.load accepts our file
      writeFileSync(file, serializeTree(tree))
      if (StandardMerkleTree.load(JSON.parse(readFileSync(file, 'utf8'))).root !== tree.root)
        throw new Error('StandardMerkleTree.load of our dump gave another root')
      progress(`  StandardMerkleTree: write ${fmt(ozWrite)}, load ${fmt(ozLoad)}`)
    }
    rmSync(file, { force: true })
    const ours2 = write.timing.wallS + reload.timing.wallS
    const theirs = ozWrite && ozLoad ? ozWrite.wallS + ozLoad.wallS : Number.NaN
    dumps.push(
      benchResult({
        name: 'merkle-dump',
        subject: 'serializeTree + write file; read file + parseTreeDump (rebuilds and checks every node)',
        baseline: 'JSON.stringify(dump()) + write; read + JSON.parse + StandardMerkleTree.load',
        unit: 's',
        value: ours2,
        baselineValue: theirs,
        params: {
          leaves: n,
          bytes: write.result,
          write: write.timing,
          reload: reload.timing,
          standardMerkleTree: ozWrite && ozLoad ? { write: ozWrite, load: ozLoad } : null,
        },
      }),
    )
  }
  const resultFile = writeResultArray('merkle', results)
  const dumpFile = writeResultArray('merkle-dump', dumps)
  console.log(
    [
      'figure        leaves     core/merkle s (cpu)    StandardMerkleTree s   merkletreejs s   ratio    speed-up',
      ...results.map((r) => {
        const p = r.params as { leaves: number; cpuS: number; merkletreejs: { wallS: number } | null }
        return `merkle        ${String(p.leaves).padEnd(9)}  ${r.value.toFixed(3).padStart(7)} (${p.cpuS.toFixed(3)})      ${Number.isFinite(r.baselineValue) ? r.baselineValue.toFixed(3).padStart(9) : '  not run'}              ${p.merkletreejs ? p.merkletreejs.wallS.toFixed(3).padStart(9) : '  not run'}     ${Number.isFinite(r.ratio) ? r.ratio.toFixed(4) : '   —  '}   ${Number.isFinite(r.ratio) ? `${(1 / r.ratio).toFixed(0)}×` : ''}`
      }),
      ...dumps.map(
        (r) =>
          `merkle-dump   ${String(r.params.leaves).padEnd(9)}  ${r.value.toFixed(3).padStart(7)}               ${Number.isFinite(r.baselineValue) ? r.baselineValue.toFixed(3).padStart(9) : '  not run'}                                ${Number.isFinite(r.ratio) ? r.ratio.toFixed(4) : '   —  '}`,
      ),
    ].join('\n'),
  )
  progress(`results in ${resultFile} and ${dumpFile}`)
}

runBench(main, 60 * 60_000)
