/**
 * Outages cost nothing (issue 8), on the real stack: the device-faults fleet goes through
 * Mosquitto, ingest, Kafka and the aggregator into InfluxDB while the aggregator is SIGKILLed and
 * restarted (it resumes from its committed offsets and persisted states), ingest is SIGKILLed and
 * restarted (Mosquitto queues the fleet's QoS 1 messages meanwhile), and Kafka is SIGSTOPped for
 * a while (GRIDROOT_STACK_KAFKA_PID, when the test's own stack gives it). Per device, and per
 * device and closed epoch, energy, revenue, swaps, readings and quarantined readings equal the
 * simulator's ledger to the unit: re-delivered readings are dropped as duplicates, nothing is
 * lost, nothing is booked in another epoch. Measure with your own stack (Kafka is stopped):
 * GRIDROOT_STACK_RUN_DIR=<run-dir> GRIDROOT_STACK_KAFKA_PID=$(cat <run-dir>/pids/kafka.pid).
 */
import { afterEach, describe, expect, inject, it } from 'vitest'
import { closedEpochTotals, deviceTotals } from '../support/influx-queries.ts'
import { createHarness, printable } from '../support/pipeline-harness.ts'
import type { ServiceProcess } from '../support/service-process.ts'

const endpoints = inject('endpoints')
const HOUR = 3_600_000
const START = Date.parse('2026-06-01T08:00:00+08:00')
const grid = { genesisMs: START, epochLengthMs: HOUR, intervalMs: 300_000 }
const run = `ro${Date.now().toString(36)}`
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline && !(await check())) await sleep(500)
}

describe('outages cost nothing (real Mosquitto, Kafka, InfluxDB)', () => {
  it('aggregator and ingest SIGKILLed and restarted mid-run: totals per device and closed epoch equal the ledger', async () => {
    const h = await createHarness({
      endpoints,
      name: `${run}-restart`,
      seed: 'device-faults-5',
      fleet: { chargers: 8, pv: 9, swap: 6, startMs: START, sampleMs: 300_000 },
      grid,
      durationMs: 3 * HOUR,
      scenario: {
        faults: { seqReset: 0.03, clockStepBack: 0.03, duplicate: 0.03, replay: 0.02, reorder: 0.03 },
      },
      aggregatorEnv: { GRIDROOT_AGG_GRACE: '40m', GRIDROOT_AGG_REORDER_WINDOW: '20m' },
    })
    cleanups.push(() => h.close())
    let ingest: ServiceProcess = await h.startIngest()
    let aggregator: ServiceProcess = await h.startAggregator()
    const kafkaPid = Number(process.env.GRIDROOT_STACK_KAFKA_PID ?? 0)
    const onTick = async (i: number) => {
      if (process.env.RO_NO_KILL) return
      if (i === 8) {
        // The aggregator dies mid-batch and comes back from its committed offsets.
        await aggregator.kill('SIGKILL')
        aggregator = await h.startAggregator()
      }
      if (i === 14) {
        await ingest.kill('SIGKILL')
        await sleep(3_000)
        ingest = await h.startIngest()
      }
      if (i === 20 && kafkaPid > 0) {
        process.kill(kafkaPid, 'SIGSTOP')
        await sleep(15_000)
        process.kill(kafkaPid, 'SIGCONT')
      }
      if (i === 24) {
        await aggregator.kill('SIGKILL')
        await sleep(2_000)
        aggregator = await h.startAggregator()
      }
    }
    await h.publish({ pauseMs: 200, onTick })

    const want = JSON.stringify(printable(h.truthByDevice()))
    await waitFor(async () => JSON.stringify(printable(await deviceTotals(h.influx))) === want, 180_000)
    await waitFor(async () => (await closedEpochTotals(h.influx)).closedThrough >= 1, 60_000)
    expect(printable(await deviceTotals(h.influx))).toEqual(printable(h.truthByDevice()))
    const closed = await closedEpochTotals(h.influx)
    expect(closed.closedThrough).toBe(1)
    const truth = new Map([...h.truthByDeviceEpoch()].filter(([k]) => Number(k.split('/')[1]) <= 1))
    expect(printable(closed.totals)).toEqual(printable(truth))
    expect(await aggregator.metric('gridroot_aggregator_influx_write_failures_total')).toBe(0)
  }, 600_000)

  // Issue 8 (seed device-faults-5, 3 h at 600×, outages beside the fleet), measured 2026-12-03 on
  // a private stack. A restarted partition anchored for good at its restored watermark (9ecce57):
  // 0.44 % of the energy unpaid once, all of it chg-000006 (REGISTER_JUMP '+617 Wh in 18600 ms');
  // 5 other runs all-time equal, closed epochs off by one swap-cabinet reading at the boundary.
  // Restored watermark as a ceiling only (2d253a4): 5 runs, 2 equal throughout, 1 with closed
  // epochs off, 2 with 0.40 % unpaid, all chg-000006: its first readings, 6 h ahead, booked about
  // 6 h ahead (its partition's watermark with them), then 5 honest ones squeezed against the
  // bound (ENERGY_POWER_MISMATCH, REGISTER_JUMP). In one of those the restart
  // at tick 24 raced the one at tick 8 (the aggregator took 9 s to start, the outages 8 s apart):
  // the dead process was killed again and two aggregators shared the group to the end, with a
  // rebalance mid-run (the aggregator's outages now run one after the other).
  // Why: the partition's bound allows hours at 600× and its clock ran ahead of the fleet,
  // slower than 600× (500 ms a tick plus publishing). A first reading is now bounded by its partition's newest accounting time carried forward
  // (core/aggregation/first-reading-clock.test.ts). Measured 2026-12-03, 5 runs, each 0 %
  // unpaid, nothing quarantined, all-time totals equal: the first (5b44773) with chg-000006 in
  // closed epoch 1 (booked from the restored watermark, fixed in 07b76c0); of 4 on 07b76c0, 3
  // equal throughout and 1 with one swp-000003 reading counted in closed epoch 0 instead of 1
  // (also in the first; its clock 6 h ahead from 08:50, right after the tick-8 restart: not
  // explained yet, maybe its leap clamped to a partition clock anchored behind).
  // Timing-dependent, so opt in: GRIDROOT_TEST_OUTAGE_600=1; its summary line
  // (`restart-outage at 600x`) gives the unpaid energy.
  it.skipIf(!process.env.GRIDROOT_TEST_OUTAGE_600)(
    'at 600× with clocks jumping 6 h ahead, aggregator SIGKILLed and restarted: totals per device and closed epoch equal the ledger',
    async () => {
      const h = await createHarness({
        endpoints,
        name: `${run}-fast`,
        seed: 'device-faults-5',
        fleet: { chargers: 8, pv: 9, swap: 6, startMs: START, sampleMs: 300_000 },
        grid,
        durationMs: 3 * HOUR,
        scenario: {
          faults: { clockStepForward: 0.03, duplicate: 0.03, replay: 0.02 },
          clockStepForwardMs: 6 * HOUR,
          clockForwardForMs: 30 * 60_000,
        },
        // 5 device minutes a tick at 600×: 500 ms.
        aggregatorEnv: {
          GRIDROOT_AGG_GRACE: '40m',
          GRIDROOT_AGG_REORDER_WINDOW: '20m',
          GRIDROOT_AGG_DEVICE_TIME_SPEED: '600',
        },
      })
      cleanups.push(() => h.close())
      let ingest: ServiceProcess = await h.startIngest()
      let aggregator: ServiceProcess = await h.startAggregator()
      const kafkaPid = Number(process.env.GRIDROOT_STACK_KAFKA_PID ?? 0)
      // The outages run beside the fleet, which keeps its pace (as `npm run simulate` does): at
      // 600× a fleet that waited for them would stop its device time while receive times run on.
      const outages: Promise<void>[] = []
      // One aggregator outage after the other: the second once the first restart is up (a start
      // can take longer than the ticks between them; killing the dead first process again left
      // two aggregators in the group to the end).
      let aggregatorOutage = Promise.resolve()
      const restartAggregator = (pauseMs: number) => {
        aggregatorOutage = aggregatorOutage.then(async () => {
          await aggregator.kill('SIGKILL')
          await sleep(pauseMs)
          aggregator = await h.startAggregator()
        })
        return aggregatorOutage
      }
      const onTick = async (i: number) => {
        if (process.env.RO_NO_KILL) return
        const outage = async () => {
          if (i === 8) await restartAggregator(0)
          if (i === 14) {
            await ingest.kill('SIGKILL')
            await sleep(3_000)
            ingest = await h.startIngest()
          }
          if (i === 20 && kafkaPid > 0) {
            process.kill(kafkaPid, 'SIGSTOP')
            await sleep(5_000)
            process.kill(kafkaPid, 'SIGCONT')
          }
          if (i === 24) await restartAggregator(2_000)
        }
        outages.push(outage())
      }
      await h.publish({ pauseMs: 500, onTick })
      await Promise.all(outages)

      const want = JSON.stringify(printable(h.truthByDevice()))
      await waitFor(async () => JSON.stringify(printable(await deviceTotals(h.influx))) === want, 180_000)
      await waitFor(async () => (await closedEpochTotals(h.influx)).closedThrough >= 1, 60_000)
      // The measurement this variant exists for, printed before the exact comparison fails.
      const booked = await deviceTotals(h.influx)
      const sum = (
        m: ReadonlyMap<string, { energyWh: number; quarantined: number }>,
        f: 'energyWh' | 'quarantined',
      ) => [...m.values()].reduce((total, t) => total + t[f], 0)
      const ledgerWh = sum(h.truthByDevice(), 'energyWh')
      console.info(
        JSON.stringify({
          msg: 'restart-outage at 600x',
          ledgerWh,
          bookedWh: sum(booked, 'energyWh'),
          unpaidPercent: (100 * (ledgerWh - sum(booked, 'energyWh'))) / ledgerWh,
          quarantined: sum(booked, 'quarantined'),
          ledgerQuarantined: sum(h.truthByDevice(), 'quarantined'),
        }),
      )
      expect(printable(booked)).toEqual(printable(h.truthByDevice()))
      const closed = await closedEpochTotals(h.influx)
      expect(closed.closedThrough).toBe(1)
      const truth = new Map([...h.truthByDeviceEpoch()].filter(([k]) => Number(k.split('/')[1]) <= 1))
      expect(printable(closed.totals)).toEqual(printable(truth))
      expect(await aggregator.metric('gridroot_aggregator_influx_write_failures_total')).toBe(0)
    },
    600_000,
  )
})
