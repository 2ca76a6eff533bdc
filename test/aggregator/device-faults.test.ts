/**
 * Device faults cost nothing (issue 8), on the real stack: simulated devices that reflash (seq
 * restarts in a new boot), step their clocks back a few seconds, and swap cabinets whose
 * controller is replaced (counter jump), plus signed readings crafted here with a seq far out of
 * line or with the key of an earlier reading and other content, go through Mosquitto, ingest,
 * Kafka and the aggregator into InfluxDB. Per device and per closed epoch the totals equal the
 * simulator's ground truth to the unit; the faults are quarantined or corrected with their reason
 * codes, and no device clock moves a watermark.
 *
 * The receive time (the Kafka record timestamp, the wall clock) is the device-time clock, as in
 * production (GRIDROOT_AGG_DEVICE_TIME_SPEED=1). The fleet's device time lies in the past, as in
 * every test here. Clocks that jump into the future are not simulated here: such a reading is
 * booked at its receive time, which here is the wall clock, months after the fleet's time, where
 * the ledger (given the true send time) books it at its tick. The simulator's ledger against the
 * aggregator's rules for this fleet and its clock jumps, over many seeds, with receive time = send
 * time: simulators/device-faults-ledger.test.ts.
 */
import { afterEach, describe, expect, inject, it } from 'vitest'
import { deriveDeviceSeed, keyPairFromSeed } from '../../core/identity/keys.ts'
import { decodeAcceptedRecord } from '../../core/telemetry/decode.ts'
import { encodeTelemetry } from '../../core/telemetry/sign.ts'
import type { Reading } from '../../core/telemetry/types.ts'
import { createInflux } from '../../runtime/clients/influx.ts'
import { createMqttPublisher, type MqttPublisher } from '../../simulators/adapters/mqtt-publisher.ts'
import type { Publish } from '../../simulators/scenario.ts'
import { closedEpochTotals, countPoints, deviceTotals } from '../support/influx-queries.ts'
import { createHarness, type Harness, printable } from '../support/pipeline-harness.ts'

const endpoints = inject('endpoints')
const HOUR = 3_600_000
const MAX_CLOCK_AHEAD_MS = 300_000
// Morning in Hong Kong: sessions, sun and commuters, a time-of-use change at 09:00.
const START = Date.parse('2026-06-01T08:00:00+08:00')
const DURATION_MS = 3 * HOUR
const grid = { genesisMs: START, epochLengthMs: HOUR, intervalMs: 300_000 }
// Device readings are checked below to be no later than their send time: none is ahead of the
// clock bound, which here (the wall clock) the ledger's send times could not reproduce.
const SEED = 'device-faults-5'
const run = `df${Date.now().toString(36)}`
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline && !(await check())) await new Promise((r) => setTimeout(r, 500))
}

/** The genuine messages of one tick, decoded. */
function genuineOf(h: Harness, tick: number) {
  return (h.ticks[tick] ?? [])
    .filter((p) => p.kind === 'genuine')
    .map((p) => ({ publish: p, message: decodeAcceptedRecord(p.payload) }))
}

/** A validly signed message of a fleet device, as a faulty device would send it. */
function signed(source: Publish, boot: number, readings: readonly Reading[]): Publish {
  const key = keyPairFromSeed(deriveDeviceSeed(SEED, source.deviceId))
  return {
    ...source,
    payload: encodeTelemetry(2, source.deviceId, boot, readings, key.privateKey),
    kind: 'genuine',
    readings: 0,
  }
}

describe('device faults cost nothing (real Mosquitto, Kafka, InfluxDB)', () => {
  it('reflash, clock steps, counter jumps, far seqs and conflicting duplicates: totals equal the ground truth', async () => {
    const h = await createHarness({
      endpoints,
      name: `${run}-faults`,
      seed: SEED,
      // Every one of the 6 partitions gets readings (a partition without any holds every close):
      // PV plants report at every sample; pv-000009 is the one on partition 2.
      fleet: { chargers: 8, pv: 9, swap: 6, startMs: START, sampleMs: 300_000 },
      grid,
      durationMs: DURATION_MS,
      scenario: {
        faults: {
          seqReset: 0.03,
          clockStepBack: 0.03,
          counterJump: 0.03,
          duplicate: 0.03,
          replay: 0.02,
          reorder: 0.03,
          conflictingDuplicate: 0.02,
          // A reboot with the clock an hour behind, for good.
          clockStepBackLarge: 0.01,
        },
      },
      // A new boot waits for the reorder window: 20 min, within the 40 min of grace, so nothing
      // on time becomes late and closed epochs compare with the ledger's.
      aggregatorEnv: {
        GRIDROOT_AGG_GRACE: '40m',
        GRIDROOT_AGG_REORDER_WINDOW: '20m',
        GRIDROOT_AGG_MAX_CLOCK_AHEAD: String(MAX_CLOCK_AHEAD_MS),
      },
    })
    cleanups.push(() => h.close())
    const injected = h.scenario.counters.injected
    for (const kind of ['seqReset', 'clockStepBack', 'counterJump', 'clockStepBackLarge'] as const)
      expect(injected[kind], `${kind} injected`).toBeGreaterThan(0)
    const firstSeen = new Set<string>()
    h.ticks.forEach((tick, i) => {
      for (const p of tick) {
        if (p.kind !== 'genuine' || firstSeen.has(p.deviceId)) continue
        firstSeen.add(p.deviceId)
        const sentAtMs = START + (i + 1) * 300_000
        expect(decodeAcceptedRecord(p.payload).readings[0]?.ts, p.deviceId).toBeLessThanOrEqual(sentAtMs)
      }
    })
    const ledger = h.scenario.ledger.snapshot()
    expect(ledger.quarantinedByReason.COUNTER_JUMP ?? 0).toBeGreaterThan(0)

    // Crafted here: every 5th tick, one device sends a signed reading with a seq 2^31 ahead
    // (its register at 2^50, the most the decoder lets through), and another repeats a reading of
    // two ticks ago with other content. Two ticks later the genuine one is long in Kafka, so
    // "first one stands" is the genuine one whatever ingest's connections reorder.
    let crafted: MqttPublisher | undefined
    let seqJumps = 0
    let conflicts = 0
    const craft = async (tick: number) => {
      if (tick % 5 !== 2 || tick + 1 >= h.ticks.length - 1) return
      const now = genuineOf(h, tick)
      const earlier = genuineOf(h, tick - 2)
      const jumper = now[tick % now.length]
      const conflicting = earlier[(tick + 3) % earlier.length]
      const out: Publish[] = []
      const last = jumper?.message.readings.at(-1)
      if (jumper && last) {
        out.push(
          signed(jumper.publish, jumper.message.boot, [
            { ...last, seq: last.seq + 2 ** 31, registerWh: 2 ** 50 },
          ]),
        )
        seqJumps += 1
      }
      const first = conflicting?.message.readings[0]
      if (conflicting && first) {
        out.push(
          signed(conflicting.publish, conflicting.message.boot, [
            { ...first, registerWh: first.registerWh + 7 },
          ]),
        )
        conflicts += 1
      }
      crafted ??= await createMqttPublisher(endpoints.mqtt, {
        connections: 1,
        inflightPerConnection: 8,
        clientIdPrefix: `${run}-craft`,
        topicPrefix: h.mqttTopicPrefix,
      })
      await crafted.publish(out)
    }
    cleanups.push(async () => crafted?.close())

    await h.startIngest()
    const aggregator = await h.startAggregator()
    await h.publish({ pauseMs: 20, onTick: craft })
    expect(seqJumps).toBeGreaterThan(3)
    expect(conflicts).toBeGreaterThan(3)

    const want = JSON.stringify(printable(h.truthByDevice()))
    await waitFor(async () => JSON.stringify(printable(await deviceTotals(h.influx))) === want, 120_000)
    // Data ends at 3 h; with 40 min of grace, epochs 0 and 1 close.
    await waitFor(async () => (await closedEpochTotals(h.influx)).closedThrough >= 1, 60_000)

    // Per device, over intervals and adjustments: energy, revenue, swaps, readings, quarantined.
    expect(printable(await deviceTotals(h.influx))).toEqual(printable(h.truthByDevice()))
    const closed = await closedEpochTotals(h.influx)
    expect(closed.closedThrough).toBe(1)
    const truth = new Map([...h.truthByDeviceEpoch()].filter(([k]) => Number(k.split('/')[1]) <= 1))
    expect(printable(closed.totals)).toEqual(printable(truth))

    // Each fault under its reason code; none cost a reading of the ledger's.
    const quarantined = (reason: string) =>
      aggregator.metric('gridroot_aggregator_readings_quarantined_total', { reason })
    expect(await quarantined('SEQ_JUMP')).toBe(seqJumps)
    // The simulator's copies go out a tick after their originals: the first one stands.
    expect(injected.conflictingDuplicate).toBeGreaterThan(0)
    expect(await quarantined('CONFLICTING_DUPLICATE')).toBe(conflicts + injected.conflictingDuplicate)
    expect(await quarantined('COUNTER_JUMP')).toBe(ledger.quarantinedByReason.COUNTER_JUMP)
    for (const reason of [
      'BOOT_REGRESSED',
      'SEQ_REWOUND',
      'GAP_GIVEN_UP',
      'VALUE_OUT_OF_RANGE',
      'REGISTER_JUMP',
    ])
      expect(await quarantined(reason), reason).toBe(
        ledger.quarantinedByReason[reason as 'REGISTER_JUMP'] ?? 0,
      )
    expect(await aggregator.metric('gridroot_aggregator_readings_duplicate_total')).toBeGreaterThanOrEqual(
      injected.duplicate + injected.replay,
    )
    expect(await aggregator.metric('gridroot_aggregator_influx_write_failures_total')).toBe(0)
    // Quarantine points: the ledger's meter anomalies plus the crafted faults.
    const ledgerQuarantined = Object.values(ledger.quarantinedByReason).reduce((a, b) => a + (b ?? 0), 0)
    expect(await countPoints(h.influx, 'quarantine', 'seq')).toBe(
      ledgerQuarantined + seqJumps + conflicts + injected.conflictingDuplicate,
    )

    // No device clock moved a watermark: none is past the fleet's last device time + tolerance.
    const influx = createInflux(h.influx)
    const marks = await influx.queryApi.collectRows<{ _value: number }>(`from(bucket: "${h.influx.bucket}")
  |> range(start: 1970-01-01T00:00:00Z, stop: 1970-01-01T00:00:01Z)
  |> filter(fn: (r) => r._measurement == "aggregator_watermark" and r._field == "watermarkMs")`)
    expect(marks.length).toBeGreaterThan(0)
    for (const m of marks)
      expect(Number(m._value)).toBeLessThanOrEqual(START + DURATION_MS + MAX_CLOCK_AHEAD_MS)
    // The device states carry the boot of each device's line.
    const boots = await influx.queryApi.collectRows<{ _value: number }>(`from(bucket: "${h.influx.bucket}")
  |> range(start: 1970-01-01T00:00:00Z, stop: 1970-01-01T00:00:01Z)
  |> filter(fn: (r) => r._measurement == "aggregator_device_state" and r._field == "boot")`)
    expect(boots.some((b) => Number(b._value) > 0)).toBe(true)
  })
})
