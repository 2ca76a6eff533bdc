/**
 * An API app on in-memory ports (no InfluxDB, Kafka or chain), for inject() tests of what the
 * app refuses and how: routes' error paths, and what it answers outside its routes. The real
 * stack's tests are in test/api.
 */
import type { FastifyInstance } from 'fastify'
import type { TimeGrid } from '../../../core/epochs/grid.ts'
import type { RegisteredDevice } from '../../../core/identity/registry.ts'
import { type BuildOptions, build } from '../app.ts'
import { DEFAULT_LIMITS } from '../config.ts'
import type { ApiKey } from '../domain/api-keys.ts'
import type { ApiPorts } from '../ports.ts'

export const STUB_KEY: ApiKey = { clientId: 'ops', key: 'ops-key-0123456789abcdef0123' }
/** Daily epochs of 5-minute intervals from 2026-06-01. */
export const STUB_GRID: TimeGrid = {
  genesisMs: Date.parse('2026-06-01T00:00:00Z'),
  epochLengthMs: 86_400_000,
  intervalMs: 300_000,
}
export const STUB_POOL = 'gcl-pv'
/** The hash every audit of the stub names as missing from the artifact store. */
export const STUB_MISSING_HASH = `0x${'ab'.repeat(32)}`

const DEVICES: readonly RegisteredDevice[] = ['pv-0001', 'pv-0002'].map((deviceId) => ({
  deviceId,
  assetClass: 'pv',
  poolId: STUB_POOL,
  ratedPowerW: 5_000,
  tariffId: 'flat',
  publicKey: '00'.repeat(32),
  publicKeyRaw: Buffer.alloc(32),
}))

function stubPorts(): ApiPorts {
  const byId = new Map(DEVICES.map((d) => [d.deviceId, d]))
  return {
    registry: { size: byId.size, get: (id) => byId.get(id), devices: () => byId.values() },
    revenue: { revenueSeries: async () => [] },
    fleet: { lastSeen: async () => [], newestWatermarkMs: async () => undefined },
    quarantine: { page: async () => [], countsByReason: async () => ({}) },
    epochs: { closedThrough: async () => 5, closedEpochs: async () => [] },
    dlq: {
      partitions: () => [{ partition: 0, oldestOffset: '0', nextOffset: '10', retained: 10 }],
      page: (_partition, fromOffset) => ({
        records: [],
        nextOffset: (fromOffset > 10n ? fromOffset : 10n).toString(),
      }),
      pageAcross: () => ({ records: [], positions: new Map([[0, 10n]]) }),
      countsByReason: () => ({ total: 0, byReason: {} }),
      health: () => ({ ok: true, caughtUp: true, asOfMs: STUB_GRID.genesisMs }),
    },
    auditor: {
      pools: () => [STUB_POOL],
      pool: async () => ({ firstEpoch: 0, nextEpoch: 3 }),
      records: async () => [],
      audit: async () => ({
        outcome: { status: 'artifact-missing', hash: STUB_MISSING_HASH, ok: false },
        finalized: undefined,
        record: undefined,
        readings: undefined,
      }),
      artifact: async () => undefined,
    },
    devWallet: {
      chainId: 31337,
      accounts: () => [],
      forward: async () => ({ result: '0x7a69' }),
      sendTransaction: async () => ({ result: '0x' }),
    },
    probes: [],
  }
}

/**
 * `ports` replace the stub's (a real adapter on a frozen upstream, a probe); `overrides` replace
 * build options (a logger, a small rate limit, timeouts).
 */
export async function stubApp(
  ports: Partial<ApiPorts> = {},
  overrides: Partial<Omit<BuildOptions, 'ports'>> = {},
): Promise<FastifyInstance> {
  const app = await build({
    grid: STUB_GRID,
    limits: DEFAULT_LIMITS,
    online: { windowMs: 900_000, clock: 'fleet' },
    apiKeys: [STUB_KEY],
    rateLimit: { max: 10_000, windowMs: 60_000 },
    logger: false,
    ports: { ...stubPorts(), ...ports },
    ...overrides,
  })
  await app.ready()
  return app
}
