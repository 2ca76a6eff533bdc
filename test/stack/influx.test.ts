import { randomUUID } from 'node:crypto'
import { flux, Point } from '@influxdata/influxdb-client'
import { describe, expect, inject, it } from 'vitest'
import { createInflux } from '../../runtime/clients/influx.ts'

const endpoints = inject('endpoints')

describe('influxdb (real server through runtime/clients/influx)', () => {
  it('reads back with Flux exactly the points written through the v2 write API', async () => {
    const influx = createInflux(endpoints.influx)
    const run = randomUUID()
    const baseMs = Date.now() - 60_000
    const energyWh = [12.5, 13.25, 0, 7.75]
    const writer = influx.writeApi('ms')
    energyWh.forEach((wh, i) => {
      writer.writePoint(
        new Point('test_energy')
          .tag('run', run)
          .tag('device', 'dev-1')
          .floatField('energy_wh', wh)
          .timestamp(new Date(baseMs + i * 1_000)),
      )
    })
    await writer.close()

    const rows = await influx.queryApi.collectRows<{ _time: string; _value: number; device: string }>(
      flux`from(bucket: ${endpoints.influx.bucket})
        |> range(start: -10m)
        |> filter(fn: (r) => r._measurement == "test_energy" and r.run == ${run} and r._field == "energy_wh")
        |> sort(columns: ["_time"])`,
    )
    expect(rows.map((row) => row._value)).toEqual(energyWh)
    expect(rows.map((row) => Date.parse(row._time))).toEqual(energyWh.map((_, i) => baseMs + i * 1_000))
    expect(new Set(rows.map((row) => row.device))).toEqual(new Set(['dev-1']))
  })

  it('overwrites a point rewritten with the same measurement, tags and timestamp (idempotent replays)', async () => {
    const influx = createInflux(endpoints.influx)
    const run = randomUUID()
    const at = new Date(Date.now() - 30_000)
    for (const wh of [1, 2]) {
      const writer = influx.writeApi('ms')
      writer.writePoint(new Point('test_energy').tag('run', run).floatField('energy_wh', wh).timestamp(at))
      await writer.close()
    }
    const rows = await influx.queryApi.collectRows<{ _value: number }>(
      flux`from(bucket: ${endpoints.influx.bucket})
        |> range(start: -10m)
        |> filter(fn: (r) => r._measurement == "test_energy" and r.run == ${run})`,
    )
    expect(rows.map((row) => row._value)).toEqual([2])
  })
})
