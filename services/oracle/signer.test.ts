import { describe, expect, it } from 'vitest'
import type { DeviceRegistry } from '../../core/identity/registry.ts'
import { createLogger } from '../../runtime/log.ts'
import { epochAnnouncement } from '../aggregator/domain/epoch-close.ts'
import { grid, runFleet } from './domain/fleet-replay.fixture.ts'
import { contentHash } from './domain/pool-epoch.ts'
import { type Hex, proposalKey } from './domain/proposal.ts'
import { createOracleMetrics } from './metrics.ts'
import type { DeviceEpochTotals, OracleChain, SignerMessage } from './ports.ts'
import { createSigner } from './signer.ts'

const EPOCH = 1
const { replay, registry } = runFleet({ duplicate: 0.05 })
const deviceRegistry = {
  size: registry.size,
  get: (id: string) => registry.get(id),
  devices: () => registry.values(),
} as unknown as DeviceRegistry
const replayed: DeviceEpochTotals[] = replay.epochResults(EPOCH)

/** The same fixed fakes for every signer: only the source and the aggregator's totals differ. */
function signer(
  source: 'influx' | 'replay',
  aggregatorTotals: DeviceEpochTotals[],
  partitions: () => Promise<number> = async () => 1,
  sourceTimeoutMs = 1_000,
  epochTotals: () => Promise<DeviceEpochTotals[]> = async () => aggregatorTotals,
  chainOverrides: Partial<OracleChain> = {},
  depsOverrides: Partial<Parameters<typeof createSigner>[0]> = {},
) {
  const published: SignerMessage[] = []
  const metrics = createOracleMetrics()
  const files = new Map<string, Uint8Array>()
  const chain = {
    pool: async () => ({ firstEpoch: 0, nextEpoch: EPOCH }),
    epochRecord: async () => ({
      status: 'none',
      attempt: 0,
      root: `0x${'0'.repeat(64)}`,
      finalizesAtSec: 0n,
    }),
    ...chainOverrides,
  } as unknown as OracleChain
  const s = createSigner({
    instanceId: source,
    source,
    graceMs: 0,
    grid,
    registry: deviceRegistry,
    replay,
    partitions,
    totals: { epochTotals },
    store: {
      put: async (bytes) => {
        const hash = contentHash(bytes)
        files.set(hash, bytes)
        return hash
      },
      get: async (hash) => files.get(hash),
    },
    chain,
    signer: { address: `0x${'11'.repeat(20)}` as Hex, sign: async () => `0x${'22'.repeat(65)}` as Hex },
    channel: { publish: async (m) => void published.push(m) },
    metrics,
    logger: createLogger('oracle-test', 'silent'),
    sourceTimeoutMs,
    resignIntervalMs: 30_000,
    sourceRetry: { initialDelayMs: 10, maxDelayMs: 20 },
    signal: new AbortController().signal,
    ...depsOverrides,
  })
  return { s, published, metrics }
}

async function run(source: 'influx' | 'replay', aggregatorTotals: DeviceEpochTotals[]) {
  const { s, published } = signer(source, aggregatorTotals)
  s.onAnnouncement(epochAnnouncement(grid, EPOCH, aggregatorTotals))
  for (let i = 0; i < 100 && s.state.queued > 0; i++) await new Promise((r) => setTimeout(r, 20))
  return published
}

describe('signer', () => {
  it('signs the same proposals from InfluxDB and from its own replay when the aggregator is right', async () => {
    const fromInflux = await run('influx', replayed)
    const fromReplay = await run('replay', replayed)
    expect(fromInflux.length).toBeGreaterThan(1)
    expect(fromInflux.every((m) => m.kind === 'signature')).toBe(true)
    const keys = (ms: SignerMessage[]) =>
      ms.map((m) => (m.kind === 'signature' ? proposalKey(m.proposal) : m.reason))
    expect(keys(fromReplay)).toEqual(keys(fromInflux))
  })

  it('does not sign through a fault in the aggregator state: the replay signer refuses with its own root', async () => {
    // One device got 1 Wh and 1 unit more in InfluxDB, and the aggregator announced those totals.
    const faulty = replayed.map((t, i) =>
      i === 0 ? { ...t, energyWh: t.energyWh + 1, revenueUnits: t.revenueUnits + 1n } : t,
    )
    const faultyPool = faulty[0]?.poolId
    const fromInflux = await run('influx', faulty)
    const fromReplay = await run('replay', faulty)
    // The InfluxDB signer agrees with the aggregator (that is its job)…
    expect(fromInflux.filter((m) => m.kind === 'refusal')).toEqual([])
    // …the replay signer refuses that pool, with the root it computed, and signs the others
    // (attack10a F8: it refused every pool of the epoch).
    const refusals = fromReplay.filter((m) => m.kind === 'refusal')
    expect(refusals.map((m) => m.kind === 'refusal' && [m.poolId, m.reason, Boolean(m.ownRoot)])).toEqual([
      [faultyPool, 'ANNOUNCEMENT_MISMATCH', true],
    ])
    const signedPools = (ms: SignerMessage[]) =>
      ms.flatMap((m) => (m.kind === 'signature' ? [m.proposal.poolId] : []))
    expect(signedPools(fromReplay)).toEqual(signedPools(fromInflux).filter((p) => p !== faultyPool))
    expect(signedPools(fromReplay).length).toBeGreaterThan(0)
    const honest = (await run('replay', replayed)).find(
      (m) => m.kind === 'signature' && m.proposal.poolId === faultyPool,
    )
    const signedByInflux = fromInflux.find((m) => m.kind === 'signature' && m.proposal.poolId === faultyPool)
    expect(
      honest?.kind === 'signature' &&
        signedByInflux?.kind === 'signature' &&
        honest.proposal.root !== signedByInflux.proposal.root,
    ).toBe(true)
  })

  it('attack10a F8: signs every pool whose totals are as announced and refuses only the one that differs, with a metric', async () => {
    // InfluxDB lost a device's point of one pool after the aggregator announced the true totals:
    // the InfluxDB signer's tree of that pool differs; its other pools are what was announced.
    const lost = replayed[0] as DeviceEpochTotals
    const { s, published, metrics } = signer(
      'influx',
      replayed.filter((t) => t !== lost),
    )
    s.onAnnouncement(epochAnnouncement(grid, EPOCH, replayed))
    for (let i = 0; i < 100 && s.state.queued > 0; i++) await new Promise((r) => setTimeout(r, 20))
    const honest = await run('replay', replayed)
    const refusals = published.filter((m) => m.kind === 'refusal')
    expect(refusals.map((m) => m.kind === 'refusal' && m.poolId)).toEqual([lost.poolId])
    expect(refusals[0]?.kind === 'refusal' && refusals[0].detail).toMatch(
      new RegExp(`pool ${lost.poolId}: these totals give .*, the aggregator announced`),
    )
    const signed = published.flatMap((m) => (m.kind === 'signature' ? [proposalKey(m.proposal)] : []))
    expect(signed).toEqual(
      honest.flatMap((m) =>
        m.kind === 'signature' && m.proposal.poolId !== lost.poolId ? [proposalKey(m.proposal)] : [],
      ),
    )
    expect((await metrics.poolMismatches.get()).values).toEqual([
      expect.objectContaining({ labels: { pool: lost.poolId }, value: 1 }),
    ])
  })

  it('refuses every pool when the epoch digest differs and the aggregator totals do not read to place it', async () => {
    const faulty = replayed.map((t, i) => (i === 0 ? { ...t, energyWh: t.energyWh + 1 } : t))
    const { s, published } = signer('replay', faulty, undefined, undefined, async () => {
      throw new Error('InfluxDB down')
    })
    s.onAnnouncement(epochAnnouncement(grid, EPOCH, faulty))
    for (let i = 0; i < 100 && s.state.queued > 0; i++) await new Promise((r) => setTimeout(r, 20))
    const pools = [...new Set([...registry.values()].map((d) => d.poolId))].sort()
    expect(published.map((m) => m.kind === 'refusal' && `${m.poolId}/${m.reason}`)).toEqual(
      pools.map((p) => `${p}/ANNOUNCEMENT_MISMATCH`),
    )
  })

  it('waits again while its replay has not passed the epoch, says so once per pool, then signs', async () => {
    // A second partition the replay has no watermark for, gone after 3 reads of the partition
    // count: the first 100 ms wait ends short (2 reads, 200 ms apart), the second one passes.
    let reads = 0
    const { s, published, metrics } = signer('replay', replayed, async () => (++reads <= 3 ? 2 : 1), 100)
    s.onAnnouncement(epochAnnouncement(grid, EPOCH, replayed))
    for (let i = 0; i < 400 && s.state.queued > 0; i++) await new Promise((r) => setTimeout(r, 20))
    const pools = [...new Set([...registry.values()].map((d) => d.poolId))].sort()
    const refusals = published.filter((m) => m.kind === 'refusal')
    expect(refusals.map((m) => m.kind === 'refusal' && `${m.poolId}/${m.reason}`)).toEqual(
      pools.map((p) => `${p}/SOURCE_NOT_READY`),
    )
    expect(refusals.every((m) => m.kind === 'refusal' && m.detail.includes('partitions behind: 1'))).toBe(
      true,
    )
    // Not final: every pool is signed once the replay caught up.
    const signed = published.filter((m) => m.kind === 'signature')
    const keys = (ms: SignerMessage[]) =>
      ms.flatMap((m) => (m.kind === 'signature' ? [proposalKey(m.proposal)] : []))
    expect(signed.length).toBeGreaterThan(1)
    expect(keys(signed)).toEqual(keys(await run('replay', replayed)))
    expect(published.indexOf(refusals.at(-1) as SignerMessage)).toBeLessThan(
      published.indexOf(signed[0] as SignerMessage),
    )
    const notReady = (await metrics.sourceNotReady.get()).values[0]?.value
    expect(notReady).toBeGreaterThanOrEqual(1)
    expect((await metrics.sourceWaitingEpoch.get()).values[0]?.value).toBe(-1)
    expect(s.state.waitingForSource).toBeUndefined()
    expect(s.state.lastSignedEpoch).toBe(EPOCH)
  })
})

describe('signer with a registry the chain does not commit', () => {
  it('signs nothing while its registry differs from the on-chain root, then signs the held epoch', async () => {
    let problem: string | undefined =
      'the device registry r.json no longer matches the on-chain registry root of pool p'
    const { s, published } = signer(
      'replay',
      replayed,
      undefined,
      undefined,
      undefined,
      {},
      {
        registryProblem: () => problem,
      },
    )
    s.onAnnouncement(epochAnnouncement(grid, EPOCH, replayed))
    await new Promise((r) => setTimeout(r, 1_500))
    expect(published).toEqual([])
    expect(s.state.heldByRegistry).toEqual({ epoch: EPOCH, problem })
    expect(s.state.queued).toBeGreaterThan(0)
    problem = undefined
    for (let i = 0; i < 150 && s.state.queued > 0; i++) await new Promise((r) => setTimeout(r, 20))
    expect(s.state.heldByRegistry).toBeUndefined()
    const signedPools = published.flatMap((m) => (m.kind === 'signature' ? [m.proposal.poolId] : []))
    // Every pool of the registry, an idle one too (its epoch gets an empty root).
    expect(signedPools).toEqual([...new Set([...registry.values()].map((d) => d.poolId))].sort())
  })
})

describe('signer after a reorganization (attack10 F8)', () => {
  it('publishes again the signature of an epoch a reorg made open again, although it had seen it final', async () => {
    // The chain as the signer reads it: epoch 1 open, then final (block 10), then, after an
    // evm_revert to before its propose, open again on other blocks.
    const chainState = { nextEpoch: EPOCH, status: 'none', head: 5n }
    const hash = (n: bigint, fork: string) => `0x${fork}${n.toString(16).padStart(62, '0')}` as Hex
    let fork = 'aa'
    const block = (n: bigint) => ({ number: n, hash: hash(n, fork) })
    const { s, published, metrics } = signer('replay', replayed, undefined, undefined, undefined, {
      pool: async () => ({ firstEpoch: 0, nextEpoch: chainState.nextEpoch }),
      epochRecord: async () => ({
        status: chainState.status as 'none',
        attempt: 0,
        root: `0x${'0'.repeat(64)}`,
        finalizesAtSec: 0n,
      }),
      headBlock: async () => block(chainState.head),
      blockAt: async (n: bigint) => (n <= chainState.head ? block(n) : undefined),
    })
    s.onAnnouncement(epochAnnouncement(grid, EPOCH, replayed))
    for (let i = 0; i < 100 && s.state.queued > 0; i++) await new Promise((r) => setTimeout(r, 20))
    const signatures = () => published.filter((m) => m.kind === 'signature').length
    const signedOnce = signatures()
    expect(signedOnce).toBeGreaterThan(0)
    await s.resign()
    // Final: nothing is published again.
    chainState.nextEpoch = EPOCH + 1
    chainState.status = 'final'
    chainState.head = 10n
    await s.resign()
    expect(signatures()).toBe(signedOnce)
    // evm_revert to block 4 and two other blocks mined: epoch 1 open again.
    fork = 'bb'
    chainState.head = 6n
    chainState.nextEpoch = EPOCH
    chainState.status = 'none'
    await s.resign()
    expect(signatures()).toBe(2 * signedOnce)
    expect((await metrics.reorgs.get()).values[0]?.value).toBe(1)
    // Once final at a safe depth (64 blocks), forgotten.
    chainState.nextEpoch = EPOCH + 1
    chainState.status = 'final'
    await s.resign()
    chainState.head = 70n
    await s.resign()
    chainState.nextEpoch = EPOCH
    chainState.status = 'none'
    await s.resign()
    expect(signatures()).toBe(2 * signedOnce)
  })
})
