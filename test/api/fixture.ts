/**
 * Fixture data for the API's tests and benchmark, written into a database and a topic prefix
 * of their own on the real stack: per-interval revenue points and their rollups, an adjustment, quarantined
 * readings, closed epochs, device states and DLQ records, with the expected sums computed here
 * from the same in-memory rows (never read back from InfluxDB).
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { RollupPoint } from '../../core/aggregation/rollups.ts'
import type { TimeGrid } from '../../core/epochs/grid.ts'
import { type DeviceRegistry, indexRegistry } from '../../core/identity/registry.ts'
import { topicSet } from '../../core/kafka/topics.ts'
import { createKafka, ensureTopics } from '../../runtime/clients/kafka.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { retry } from '../../runtime/retry.ts'
import { rollupLine } from '../../services/aggregator/adapters/influx-lines.ts'
import { createInfluxStore } from '../../services/aggregator/adapters/influx-store.ts'
import { createFleet } from '../../simulators/fleet/fleet.ts'
import { testDatabase } from '../support/influx-queries.ts'

export const GENESIS_MS = Date.parse('2026-06-01T00:00:00+08:00')
export const FIXTURE_GRID: TimeGrid = { genesisMs: GENESIS_MS, epochLengthMs: 3_600_000, intervalMs: 300_000 }

export interface IntervalRow {
  readonly deviceId: string
  readonly poolId: string
  readonly assetClass: string
  readonly startMs: number
  readonly energyWh: number
  readonly revenueUnits: bigint
  readonly swaps: number
}

export interface Fixture {
  readonly influx: Endpoints['influx']
  readonly topicPrefix: string
  readonly registry: DeviceRegistry
  readonly registryFile: string
  readonly aggregatorGroup: string
  /** intervals and adjustments (booked time), as written. */
  readonly revenueRows: readonly IntervalRow[]
  readonly quarantine: readonly { deviceId: string; reason: string; timeMs: number; seq: number }[]
  readonly dlqReasons: readonly string[]
  readonly neverSeen: string
  readonly lagging: string
  /** Device time of the newest reading of the fleet. */
  readonly fleetNowMs: number
}

const tags = (r: { deviceId: string; poolId: string; assetClass: string }) =>
  `device=${r.deviceId},pool=${r.poolId},class=${r.assetClass}`
const ns = (ms: number, extra = 0) => (BigInt(ms) * 1_000_000n + BigInt(extra)).toString()

export async function writeFixture(
  endpoints: Endpoints,
  name: string,
  options: {
    readonly devices?: { chargers: number; pv: number; swap: number }
    readonly hours?: number
  } = {},
): Promise<Fixture> {
  const grid = FIXTURE_GRID
  const counts = options.devices ?? { chargers: 4, pv: 2, swap: 2 }
  const hours = options.hours ?? 3
  const fleet = createFleet({ seed: `api-${name}`, ...counts, startMs: GENESIS_MS, sampleMs: 300_000 })
  const registryDoc = fleet.registry()
  const dir = mkdtempSync(join(tmpdir(), `gridroot-${name}-`))
  const registryFile = join(dir, 'registry.json')
  writeFileSync(registryFile, JSON.stringify(registryDoc))
  const registry = indexRegistry(registryDoc.devices)
  const records = registryDoc.devices
  const neverSeen = records[records.length - 1]?.deviceId ?? ''
  const lagging = records[0]?.deviceId ?? ''

  const influx = await testDatabase(endpoints.influx, name.replace(/[^A-Za-z0-9_]/g, '_'))
  const aggregatorGroup = `${name}-aggregator`
  const lines: string[] = []
  const revenueRows: IntervalRow[] = []
  // The aggregator's revenue_rollup points of the same rows, spread over 6 partitions as
  // telemetry.v1's devices are (docs/architecture.md, "InfluxDB measurements").
  const rollups = new Map<string, RollupPoint>()
  const rollUp = (
    d: { poolId: string; assetClass: string },
    partition: number,
    source: RollupPoint['source'],
    timeMs: number,
    v: { energyWh: number; revenueUnits: bigint; swaps: number },
  ) => {
    const key = `${partition}/${source}/${d.poolId}/${d.assetClass}/${timeMs}`
    const p = rollups.get(key)
    rollups.set(key, {
      partition,
      source,
      poolId: d.poolId,
      assetClass: d.assetClass,
      timeMs,
      energyWh: (p?.energyWh ?? 0) + v.energyWh,
      revenueUnits: (p?.revenueUnits ?? 0n) + v.revenueUnits,
      swaps: (p?.swaps ?? 0) + v.swaps,
      readings: (p?.readings ?? 0) + 1,
      quarantined: 0,
    })
  }
  const intervals = (hours * 3_600_000) / grid.intervalMs
  records.forEach((d, di) => {
    if (d.deviceId === neverSeen) return
    for (let i = 0; i < intervals; i++) {
      const startMs = GENESIS_MS + i * grid.intervalMs
      const energyWh = ((di * 7 + i * 13) % 50) + 1
      // One interval far above 2^53 units: the API must carry int64 sums exactly.
      const revenueUnits =
        di === 1 && i === 5 ? 9_007_199_254_740_993n : BigInt(energyWh) * 1_100n + BigInt(di)
      const swaps = d.assetClass === 'swap' ? i % 3 : 0
      revenueRows.push({ ...d, startMs, energyWh, revenueUnits, swaps })
      rollUp(d, di % 6, 'interval', startMs, { energyWh, revenueUnits, swaps })
      lines.push(
        `interval,${tags(d)} energyWh=${energyWh}i,revenueUnits=${revenueUnits}i,swaps=${swaps}i,readings=1i,quarantined=0i ${ns(startMs)}`,
      )
    }
  })
  // Late data for epoch 0, booked into epoch 2 (first millisecond, + seq ns).
  const late = records[2]
  if (late !== undefined && hours >= 3) {
    const bookedMs = GENESIS_MS + 2 * grid.epochLengthMs
    revenueRows.push({ ...late, startMs: bookedMs, energyWh: 5, revenueUnits: 5_500n, swaps: 0 })
    rollUp(late, 2, 'adjustment', bookedMs, { energyWh: 5, revenueUnits: 5_500n, swaps: 0 })
    lines.push(
      `adjustment,${tags(late)},adjusts_epoch=0 energyWh=5i,revenueUnits=5500i,swaps=0i,readings=1i,quarantined=0i,bookedEpoch=2i,seq=77i ${ns(bookedMs, 77)}`,
    )
  }
  const quarantine: Fixture['quarantine'][number][] = []
  const quarantined = (deviceId: string, reason: string, timeMs: number, seq: number) => {
    const d = registry.get(deviceId)
    if (d === undefined) return
    quarantine.push({ deviceId, reason, timeMs, seq })
    const reading = JSON.stringify({ type: 'pv.inverter', seq, ts: timeMs, registerWh: 10 }).replace(
      /"/g,
      '\\"',
    )
    lines.push(
      `quarantine,${tags(d)},reason=${reason} seq=${seq}i,registerWh=10i,detail="register went from 20 to 10",reading="${reading}" ${ns(timeMs, seq)}`,
    )
  }
  const fleetNowMs = GENESIS_MS + hours * 3_600_000 - 60_000
  for (let k = 0; k < 3; k++)
    quarantined(records[1]?.deviceId ?? '', 'REGISTER_BACKWARDS', fleetNowMs - (k + 1) * 600_000, 100 + k)
  for (let k = 0; k < 2; k++)
    quarantined(records[3]?.deviceId ?? '', 'POWER_ABOVE_RATED', fleetNowMs - (k + 1) * 900_000, 200 + k)
  // Closed epochs 0 and 1 with pool totals (as the aggregator writes them).
  for (const epoch of hours >= 3 ? [0, 1] : []) {
    const startMs = GENESIS_MS + epoch * grid.epochLengthMs
    const byPool = new Map<string, { energyWh: number; revenueUnits: bigint; devices: Set<string> }>()
    for (const r of revenueRows) {
      if (r.startMs < startMs || r.startMs >= startMs + grid.epochLengthMs) continue
      const p = byPool.get(r.poolId) ?? { energyWh: 0, revenueUnits: 0n, devices: new Set() }
      byPool.set(r.poolId, p)
      p.energyWh += r.energyWh
      p.revenueUnits += r.revenueUnits
      p.devices.add(r.deviceId)
    }
    for (const [pool, p] of byPool) {
      lines.push(
        `epoch_pool,pool=${pool} epoch=${epoch}i,energyWh=${p.energyWh}i,revenueUnits=${p.revenueUnits}i,swaps=0i,readings=12i,quarantined=0i,devices=${p.devices.size}i ${ns(startMs)}`,
      )
    }
    lines.push(
      `epoch_closed epoch=${epoch}i,closedAtMs=${startMs + 2 * grid.epochLengthMs}i,watermarkMs=${startMs + grid.epochLengthMs + 60_000}i,devices=${records.length - 1}i ${ns(startMs)}`,
    )
  }
  for (const p of rollups.values()) lines.push(rollupLine(aggregatorGroup, p))
  records.forEach((d, di) => {
    if (d.deviceId === neverSeen) return
    const lastTs = d.deviceId === lagging ? fleetNowMs - 3_600_000 : fleetNowMs - (di % 5) * 1_000
    lines.push(
      `aggregator_device_state,device=${d.deviceId},group=${aggregatorGroup} partition=0i,lastSeq=${1000 + di}i,lastTs=${lastTs}i 0`,
    )
  })
  // The aggregator's partition watermarks (the newest accounted reading of each partition).
  for (let partition = 0; partition < 6; partition++)
    lines.push(
      `aggregator_watermark,group=${aggregatorGroup},partition=${partition} watermarkMs=${fleetNowMs - partition * 1_000}i,updatedAtMs=${fleetNowMs}i 0`,
    )
  // Every line must land (a shared, loaded InfluxDB times requests out): one request per chunk,
  // retried until acknowledged; the client's WriteApi only logged a failed flush and went on.
  const store = createInfluxStore(influx, { gzip: false })
  for (let i = 0; i < lines.length; i += 5_000) {
    const chunk = lines.slice(i, i + 5_000)
    await retry(() => store.writeRequest(chunk), { operation: 'fixture write', maxAttempts: 20 })
  }

  const topicPrefix = `${name}.`
  const topics = topicSet(topicPrefix)
  await ensureTopics(endpoints.kafka, [topics.dlq])
  const dlqReasons = ['BAD_SIGNATURE', 'MALFORMED_JSON', 'BAD_SIGNATURE', 'UNKNOWN_DEVICE', 'BAD_SIGNATURE']
  const producer = createKafka(endpoints.kafka, `${name}-producer`).producer()
  await producer.connect()
  await producer.send({
    topic: topics.dlq.name,
    messages: dlqReasons.map((reason, i) => ({
      key: `dev-${i}`,
      value: Buffer.from(`{"broken":${i}`),
      headers: {
        'gridroot-reason': reason,
        'gridroot-detail': `fixture record ${i}`,
        'gridroot-mqtt-topic': `gridroot/v1/pv/dev-${i}/telemetry`,
        'gridroot-received-at-ms': String(1_780_000_000_000 + i),
      },
    })),
  })
  await producer.disconnect()
  return {
    influx,
    topicPrefix,
    registry,
    registryFile,
    aggregatorGroup,
    revenueRows,
    quarantine,
    dlqReasons,
    neverSeen,
    lagging,
    fleetNowMs,
  }
}

/** Drops the fixture's database (topics stay; their prefix is unique per run). */
export async function dropFixture(fixture: Fixture): Promise<void> {
  const database = fixture.influx.bucket.split('/')[0] ?? ''
  await fetch(new URL('/query', fixture.influx.url), {
    method: 'POST',
    body: new URLSearchParams({ q: `DROP DATABASE "${database}"` }),
  })
}
