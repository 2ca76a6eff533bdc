/**
 * A database of its own on the stack's InfluxDB 1.8 for each aggregator run (so every run writes
 * into an empty one, as the first run would), and the read-back that keeps the figure honest:
 * how many points of a measurement the run left there.
 */
import { createInflux } from '../../runtime/clients/influx.ts'
import type { Endpoints } from '../../runtime/endpoints.ts'
import { createDatabase } from '../../stack/servers/influxdb.ts'

/** Creates `database` and returns the endpoint whose bucket is it (`database/autogen`). */
export async function createRunDatabase(
  endpoint: Endpoints['influx'],
  database: string,
): Promise<Endpoints['influx']> {
  await createDatabase(endpoint.url, database)
  return { ...endpoint, bucket: `${database}/autogen` }
}

export async function dropRunDatabase(endpoint: Endpoints['influx'], database: string): Promise<void> {
  const response = await fetch(`${endpoint.url}/query`, {
    method: 'POST',
    body: new URLSearchParams({ q: `DROP DATABASE ${JSON.stringify(database)}` }),
    signal: AbortSignal.timeout(30_000),
  })
  if (!response.ok) throw new Error(`DROP DATABASE ${database} answered ${response.status}`)
}

/**
 * Points of `measurement` that carry `field`, over all time: counted per series first, then
 * summed, which keeps InfluxDB from merging every point into one table.
 */
export async function countPoints(
  endpoint: Endpoints['influx'],
  measurement: string,
  field: string,
): Promise<number> {
  const influx = createInflux(endpoint, { timeoutMs: 120_000 })
  const rows = await influx.queryApi.collectRows<Record<string, unknown>>(`from(bucket: "${endpoint.bucket}")
  |> range(start: 2000-01-01T00:00:00Z, stop: 2100-01-01T00:00:00Z)
  |> filter(fn: (r) => r._measurement == "${measurement}" and r._field == "${field}")
  |> count()
  |> group()
  |> sum()`)
  return rows.length > 0 ? Number(rows[0]?._value) : 0
}
