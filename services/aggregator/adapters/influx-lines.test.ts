import { describe, expect, it } from 'vitest'
import type { Writes } from '../../../core/aggregation/aggregation.ts'
import type { DeviceRecord } from '../../../core/identity/registry.ts'
import { LineFormatter, nsDigits } from './influx-lines.ts'

const device: DeviceRecord = {
  deviceId: 'chg-000001',
  assetClass: 'charger',
  poolId: 'longshine-ev',
  ratedPowerW: 7000,
  tariffId: 'ev-tou',
  publicKey: '00'.repeat(32),
}
const grid = { genesisMs: 1_780_243_200_000, epochLengthMs: 3_600_000, intervalMs: 300_000 }
const empty: Writes = {
  intervals: [],
  adjustments: [],
  readings: [],
  quarantines: [],
  states: [],
  watermarks: new Map(),
  rollups: [],
  offsets: [],
}

describe('LineFormatter', () => {
  const f = new LineFormatter(grid, 'agg group')
  it('formats nanosecond times without BigInt', () => {
    expect(nsDigits(1_780_243_200_000)).toBe('1780243200000000000')
    expect(nsDigits(1_780_243_200_000, 42)).toBe('1780243200000000042')
  })
  it('writes intervals, adjustments, readings and quarantines with sorted tags and typed fields', () => {
    const lines = f.dataLines({
      ...empty,
      intervals: [
        {
          device,
          intervalStartMs: grid.genesisMs,
          energyWh: 500,
          swaps: 0,
          readings: 2,
          quarantined: 0,
          revenueUnits: 1_250_000n,
        },
      ],
      adjustments: [
        {
          device,
          partition: 0,
          boot: 0,
          adjustsEpoch: 1,
          bookedEpoch: 3,
          seq: 17,
          energyWh: 5,
          swaps: 0,
          readings: 1,
          quarantined: 0,
          revenueUnits: 12n,
        },
      ],
      readings: [
        {
          device,
          epoch: 0,
          reading: {
            type: 'charger.meter',
            seq: 9,
            ts: grid.genesisMs + 1,
            registerWh: 100,
            connectorId: 1,
            sessionId: 's "1"',
            powerW: 7000,
          },
        },
      ],
      quarantines: [
        {
          device,
          reading: {
            type: 'charger.status',
            seq: 10,
            ts: grid.genesisMs + 2,
            registerWh: 90,
            connectorId: 1,
            status: 'Available',
            errorCode: 'NoError',
          },
          reason: 'REGISTER_BACKWARDS',
          detail: 'registerWh 90 < previous 100',
        },
      ],
    })
    expect(lines).toEqual([
      'interval,class=charger,device=chg-000001,pool=longshine-ev energyWh=500i,revenueUnits=1250000i,swaps=0i,readings=2i,quarantined=0i 1780243200000000000',
      'adjustment,adjusts_epoch=1,class=charger,device=chg-000001,pool=longshine-ev energyWh=5i,revenueUnits=12i,swaps=0i,readings=1i,quarantined=0i,bookedEpoch=3i,seq=17i 1780254000000000017',
      'reading,class=charger,device=chg-000001,pool=longshine-ev,type=charger.meter seq=9i,registerWh=100i,powerW=7000i,sessionId="s \\"1\\"" 1780243200001000009',
      'quarantine,class=charger,device=chg-000001,pool=longshine-ev,reason=REGISTER_BACKWARDS seq=10i,registerWh=90i,detail="registerWh 90 < previous 100",reading="{\\"type\\":\\"charger.status\\",\\"seq\\":10,\\"ts\\":1780243200002,\\"registerWh\\":90,\\"connectorId\\":1,\\"status\\":\\"Available\\",\\"errorCode\\":\\"NoError\\"}" 1780243200002000010',
    ])
  })
  it('keeps states and watermarks at time 0, tagged with the escaped consumer group', () => {
    const lines = f.stateLines(
      {
        ...empty,
        states: [
          {
            deviceId: 'chg-000001',
            partition: 2,
            poolId: 'longshine-ev',
            meter: {
              lastSeq: 9,
              lastTs: 5,
              lastRegisterWh: 100,
              lastSwapCount: undefined,
              lastPowerW: 7000,
              lastDeviceTs: 4,
              lastReceivedAtMs: 6,
              lastStepMs: 300000,
            },
            open: { startMs: 0, energyWh: 1, swaps: 0, readings: 1, quarantined: 0 },
            boot: 3,
          },
        ],
        watermarks: new Map([[2, 123]]),
      },
      77,
    )
    expect(lines).toEqual([
      'aggregator_device_state,device=chg-000001,group=agg\\ group partition=2i,lastSeq=9i,lastTs=5i,lastRegisterWh=100i,lastSwapCount=-1i,lastPowerW=7000i,lastDeviceTs=4i,lastReceivedAtMs=6i,lastStepMs=300000i,openStartMs=0i,openEnergyWh=1i,openSwaps=0i,openReadings=1i,openQuarantined=0i,boot=3i,openPool="longshine-ev" 0',
      'aggregator_watermark,group=agg\\ group,partition=2 watermarkMs=123i,updatedAtMs=77i 0',
    ])
  })
})
